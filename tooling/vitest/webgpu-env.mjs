// Makes a software Vulkan driver visible to Dawn on machines without a GPU, without hiding a real one.
// Debian's chromium package ships SwiftShader's Vulkan ICD; VK_ADD_DRIVER_FILES adds it to the
// drivers the Vulkan loader already finds (VK_ICD_FILENAMES would replace them).
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const knownIcds = ['/usr/lib/chromium/vk_swiftshader_icd.json'];

export function softwareVulkanIcd() {
  return knownIcds.find((p) => existsSync(p));
}

// Mesa's lavapipe (bookworm-backports) is about 10x faster than SwiftShader; when it is installed the
// loader finds it by itself, and adding SwiftShader would make Dawn pick SwiftShader instead.
const lavapipeIcd = '/usr/share/vulkan/icd.d/lvp_icd.json';

export function exposeSoftwareVulkan(env = process.env) {
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env.VK_ADD_DRIVER_FILES) return;
  if (existsSync(lavapipeIcd)) return;
  const icd = softwareVulkanIcd();
  if (icd) env.VK_ADD_DRIVER_FILES = icd;
}

export function chromiumPath(env = process.env) {
  if (env.CHROMIUM_PATH) return env.CHROMIUM_PATH;
  try {
    return execSync('command -v chromium || command -v chromium-browser', {
      encoding: 'utf8',
      shell: '/bin/sh',
    }).trim();
  } catch {
    return undefined;
  }
}
