// In a bundled page (Vite, as vitest's browser mode runs it) the model folder must still be the
// package's models/<kind>/: Vite rewrote `new URL(\`../models/${kind}/\`, import.meta.url)` into a
// glob of the files it found, which returned `.../src/undefined`.
import { expect, test } from 'vitest';
import { shapesModel } from '../src/index.js';

test.each(['clip', 'dvae', 'vlm'] as const)(
  'shapesModel(%s) is its models/ folder, and serves config.json',
  async (kind) => {
    const folder = shapesModel(kind);
    expect(folder.href).toMatch(new RegExp(`/models/${kind}/$`));
    const response = await fetch(new URL('config.json', folder));
    expect(response.ok).toBe(true);
    expect(typeof (await response.json())).toBe('object');
  },
);
