// Hugging Face Hub addresses as people write them, turned into the URLs that serve the files:
// `hf://openai/clip-vit-base-patch32` (optionally `@revision`), and the model page URL copied from
// a browser (`https://huggingface.co/org/name`, or `.../tree/<revision>`, or a file's `.../blob/...`
// page), which serve HTML rather than the files. Everything else passes through unchanged.
import { describeValue } from '../describeValue.js';

const HUB = 'https://huggingface.co';
/** Path roots on the Hub that are not models (their URLs are left alone). */
const NOT_MODELS = new Set(['datasets', 'spaces', 'api', 'docs', 'blog', 'models', 'organizations']);
/** Path parts that follow a repository's name in the Hub's URLs. */
const KINDS = new Set(['resolve', 'raw', 'tree', 'blob']);
// hf://org/name[@revision][/path]; a pull request's revision (refs/pr/N) has slashes of its own.
const HF = /^hf:\/\/([^/@]+)\/([^/@]+)(?:@(refs\/pr\/\d+|refs\/convert\/[^/]+|[^/]+))?(\/.*)?$/i;

/**
 * The URL that serves a Hub file or folder: `hf://org/name[@revision][/path]` and model page URLs
 * on huggingface.co (without `/resolve/<revision>/`, or with `/tree/` or `/blob/` in its place)
 * become `https://huggingface.co/org/name/resolve/<revision, default main>[/path]`; any other URL
 * is returned as it is. Throws for an `hf://` address without an organization (one-word models
 * have one now: `hf://openai-community/gpt2`).
 *
 * @example
 * ```ts
 * hubFileUrl('hf://openai/clip-vit-base-patch32/config.json');
 * // 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/config.json'
 * ```
 */
export function hubFileUrl(href: string): string {
  if (typeof href !== 'string')
    throw new TypeError(`hubFileUrl: href must be a URL string, got ${describeValue(href)}`);
  if (/^hf:/i.test(href)) {
    const hf = HF.exec(href);
    if (!hf || KINDS.has(hf[2]!.toLowerCase())) {
      throw new TypeError(
        `${href}: an hf:// address names a model as hf://org/name[@revision][/file] (one-word models have an organization now, e.g. hf://openai-community/gpt2)`,
      );
    }
    const [, org, name, revision = 'main', rest = ''] = hf;
    return `${HUB}/${org}/${name}/resolve/${encodeURIComponent(revision)}${rest}`;
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
  // Not a model page: a one-word model's own URLs (huggingface.co/gpt2/resolve/main/...), an
  // organization's page, the site's other sections, or URLs that already serve files.
  if (!org || !name || NOT_MODELS.has(org) || kind === 'resolve' || kind === 'raw') return href;
  if (name === 'tree' || name === 'blob') {
    // A one-word model's page (huggingface.co/gpt2/tree/main): the revision follows.
    return `${HUB}/${org}/resolve/${[kind ?? 'main', ...rest].join('/')}${url.search}`;
  }
  if (KINDS.has(name)) return href; // a one-word model's files (huggingface.co/gpt2/resolve/main/...)
  if (kind === 'tree' || kind === 'blob') {
    const [revision = 'main', ...path] = rest;
    return `${HUB}/${org}/${name}/resolve/${[revision, ...path].join('/')}${url.search}`;
  }
  // A model page (its query, such as ?library=transformers, says nothing about the files): what
  // follows the name is a path inside the main revision (a file name joined onto it).
  return `${HUB}/${org}/${name}/resolve/main/${[kind, ...rest].filter(Boolean).join('/')}`.replace(/\/$/, '');
}
