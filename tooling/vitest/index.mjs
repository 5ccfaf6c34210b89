// Shared vitest setup: every package gets a `node` project (test/**/*.test.ts) and, when it has
// browser tests (test/**/*.browser.test.ts), a `browser` project in Debian's Chromium with WebGPU.
// VL_TEST_BROWSER=0 leaves the browser project out (a machine without Chromium, such as a lent GPU
// machine running the node project on its real adapter); the browser provider is then not loaded.
import { defineConfig } from 'vitest/config';
import { chromiumPath, exposeSoftwareVulkan } from './webgpu-env.mjs';

exposeSoftwareVulkan();

const chromiumArgs = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * @param {{ browser?: boolean, testTimeout?: number }} [options]
 */
export async function vlVitestConfig(options = {}) {
  const browser = (options.browser ?? true) && process.env.VL_TEST_BROWSER !== '0';
  const testTimeout = options.testTimeout ?? 60_000;
  const resolve = { conditions: ['source'] };
  const projects = [
    {
      resolve,
      ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
      test: {
        name: 'node',
        environment: 'node',
        include: ['test/**/*.test.ts'],
        exclude: ['test/**/*.browser.test.ts'],
        testTimeout,
        hookTimeout: testTimeout,
        pool: 'forks',
      },
    },
  ];
  if (browser) {
    const executablePath = chromiumPath();
    if (!executablePath) {
      throw new Error(
        "vitest browser project: no Chromium found. Install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH.",
      );
    }
    projects.push({
      resolve,
      define: { __VL_REQUIRE_WEBGPU__: JSON.stringify(process.env.VL_REQUIRE_WEBGPU ?? '') },
      test: {
        name: 'browser',
        include: ['test/**/*.browser.test.ts'],
        testTimeout,
        hookTimeout: testTimeout,
        browser: {
          enabled: true,
          headless: true,
          provider: (await import('@vitest/browser-playwright')).playwright({
            launchOptions: { executablePath, args: chromiumArgs },
          }),
          instances: [{ browser: 'chromium' }],
        },
      },
    });
  }
  return defineConfig({ test: { projects } });
}
