// Hugging Face Hub addresses as people write them, turned into the URLs that serve the files:
// `hf://openai/clip-vit-base-patch32` (optionally `@revision`), and the model page URL copied from
// a browser (`https://huggingface.co/org/name`, or `.../tree/<revision>`, or a file's `.../blob/...`
// page), which serve HTML rather than the files. Everything else passes through unchanged.

const HUB = 'https://huggingface.co';
/** Path roots on the Hub that are not models (their URLs are left alone). */
const NOT_MODELS = new Set(['datasets', 'spaces', 'api', 'docs', 'blog', 'models', 'organizations']);

/**
 * The URL that serves a Hub file or folder: `hf://org/name[@revision][/path]` and model page URLs
 * on huggingface.co (without `/resolve/<revision>/`, or with `/tree/` or `/blob/` in its place)
 * become `https://huggingface.co/org/name/resolve/<revision, default main>[/path]`; any other URL
 * is returned as it is.
 *
 * @example
 * ```ts
 * hubFileUrl('hf://openai/clip-vit-base-patch32/config.json');
 * // 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/config.json'
 * ```
 */
export function hubFileUrl(href: string): string {
  const hf = /^hf:\/\/([^/@]+)\/([^/@]+)(?:@([^/]+))?(\/.*)?$/i.exec(href);
  if (hf) {
    const [, org, name, revision = 'main', rest = ''] = hf;
    return `${HUB}/${org}/${name}/resolve/${revision}${rest}`;
  }
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return href;
  }
  if (url.protocol !== 'https:' || (url.hostname !== 'huggingface.co' && url.hostname !== 'hf.co'))
    return href;
  const [org, name, kind, ...rest] = url.pathname.split('/').filter(Boolean);
  if (!org || !name || NOT_MODELS.has(org) || kind === 'resolve' || kind === 'raw') return href;
  if (kind === 'tree' || kind === 'blob') {
    const [revision = 'main', ...path] = rest;
    return `${HUB}/${org}/${name}/resolve/${[revision, ...path].join('/')}${url.search}`;
  }
  // A model page: what follows the name is a path inside the main revision (a joined file name).
  return `${HUB}/${org}/${name}/resolve/main/${[kind, ...rest].filter(Boolean).join('/')}`.replace(/\/$/, '');
}
