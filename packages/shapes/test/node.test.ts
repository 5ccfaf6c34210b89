import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeImage,
  encodePng,
  generateShapes,
  heldOutShapes,
  readCaptionFolder,
  writeShapesFolder,
} from '@vl/shapes';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { digest } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-shapes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PNG', () => {
  it('round-trips exactly', () => {
    const { image } = generateShapes(11, { size: 48 });
    const before = digest(image);
    const bytes = encodePng(image);
    expect([...bytes.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);
    const back = decodeImage(bytes);
    expect([back.width, back.height]).toEqual([48, 48]);
    expect(digest(back)).toBe(before);
    expect(digest(image)).toBe(before); // the input is untouched
    // Its own memory, not a view into Node's shared 8 KiB Buffer pool: `bytes.buffer` (a Blob, a
    // transfer to a worker) held other data around the PNG, and transferring it detached the pool.
    expect([bytes.byteOffset, bytes.buffer.byteLength]).toEqual([0, bytes.length]);
  });

  it('encodes RGB input and rejects a wrong byte count', () => {
    const rgb = { data: new Uint8Array([255, 0, 0, 0, 255, 0]), width: 2, height: 1 };
    expect([...decodeImage(encodePng(rgb)).data]).toEqual([255, 0, 0, 255, 0, 255, 0, 255]);
    expect(() => encodePng({ data: new Uint8Array(5), width: 2, height: 1 })).toThrow(
      /needs 8 \(RGBA\) or 6 \(RGB\)/,
    );
  });

  it('decodes JPEG and names unknown bytes', () => {
    const { image } = generateShapes(2, { size: 32 });
    const encoded = jpeg.encode({ data: Buffer.from(image.data), width: 32, height: 32 }, 95);
    const back = decodeImage(new Uint8Array(encoded.data));
    expect([back.width, back.height, back.data.length]).toEqual([32, 32, 32 * 32 * 4]);
    expect(Math.abs(back.data[0]! - image.data[0]!)).toBeLessThan(12);
    expect(() => decodeImage(new Uint8Array([1, 2, 3]), 'x.bin')).toThrow(/x\.bin is neither PNG nor JPEG/);
    // An ArrayBuffer (say from fetch) is named, not Buffer.from's "Received undefined".
    expect(() => decodeImage(new ArrayBuffer(8) as never)).toThrow(
      /^decodeImage\(\): bytes must be a Uint8Array \(or a Buffer\), got an object$/,
    );
  });
});

describe('caption folders', () => {
  it('writes the held-out split and reads it back', async () => {
    const folder = join(dir, 'heldout');
    const names = await writeShapesFolder(folder, 5, { size: 32 });
    expect(names).toEqual(['000000', '000001', '000002', '000003', '000004']);
    const pairs = await readCaptionFolder(folder);
    const expected = heldOutShapes(5, { size: 32 });
    expect(pairs.map((p) => p.caption)).toEqual(expected.map((s) => s.canonicalCaption));
    expect(pairs.map((p) => digest(p.image))).toEqual(expected.map((s) => digest(s.image)));
    const lines = readFileSync(join(folder, 'scenes.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[2]!).scene).toEqual(JSON.parse(JSON.stringify(expected[2]!.scene)));
    // The same samples again are fine; fewer would leave 000002-000004 to be read as this run's.
    await writeShapesFolder(folder, 5, { size: 32 });
    await expect(writeShapesFolder(folder, 2, { size: 32 })).rejects.toThrow(
      `writeShapesFolder(): ${folder} holds samples this call would not replace (000002.png, 000002.txt, 000003.png, ... (6 files))`,
    );
    expect(await readCaptionFolder(folder)).toHaveLength(5);
  });

  it('reads JPEG images too, and names missing captions or images', async () => {
    const folder = join(dir, 'mixed');
    await writeShapesFolder(folder, 1, { size: 32, split: 'train', metadata: false });
    const { image } = generateShapes(4, { size: 40 });
    writeFileSync(
      join(folder, 'photo.JPG'),
      jpeg.encode({ data: Buffer.from(image.data), width: 40, height: 40 }, 90).data,
    );
    writeFileSync(join(folder, 'photo.txt'), '  a photo \n');
    const pairs = await readCaptionFolder(folder);
    expect(pairs.map((p) => [p.name, p.caption, p.image.width])).toEqual([
      ['000000', expect.any(String), 32],
      ['photo', 'a photo', 40],
    ]);
    // A caption file with an upper-case extension pairs up (it did) and is read (ENOENT on 'photo.txt').
    rmSync(join(folder, 'photo.txt'));
    writeFileSync(join(folder, 'photo.TXT'), 'an upper-case caption\n');
    expect((await readCaptionFolder(folder)).at(-1)!.caption).toBe('an upper-case caption');
    rmSync(join(folder, 'photo.TXT'));
    writeFileSync(join(folder, 'photo.txt'), 'a photo');
    rmSync(join(folder, 'photo.txt'));
    await expect(readCaptionFolder(folder)).rejects.toThrow(/images without a \.txt caption: photo/);
    await expect(readCaptionFolder(join(dir, 'missing'))).rejects.toThrow(/cannot read the folder/);
    await expect(writeShapesFolder(folder, 1, { split: 'test' as never })).rejects.toThrow(/options\.split/);
  });
});
