import { LayoutFile, spansFor } from '../../src/storage/file-layout';

const files = (sizes: number[]): LayoutFile[] => {
  let offset = 0;
  return sizes.map((length, i) => {
    const f = { path: `f${i}`, length, offset };
    offset += length;
    return f;
  });
};

describe('spansFor', () => {
  it('maps a range across file boundaries and skips empty files', () => {
    expect(spansFor(files([10, 0, 5, 20]), 8, 10)).toEqual([
      { fileIndex: 0, fileOffset: 8, rangeOffset: 0, length: 2 },
      { fileIndex: 2, fileOffset: 0, rangeOffset: 2, length: 5 },
      { fileIndex: 3, fileOffset: 0, rangeOffset: 7, length: 3 },
    ]);
  });
  it('covers every byte exactly once for any range', () => {
    const fs = files([3, 0, 0, 7, 1, 16, 2]);
    const total = 29;
    for (let start = 0; start < total; start++) {
      for (let len = 1; start + len <= total; len++) {
        const spans = spansFor(fs, start, len);
        expect(spans.reduce((n, s) => n + s.length, 0)).toBe(len);
        let at = 0;
        for (const s of spans) {
          expect(s.rangeOffset).toBe(at);
          expect(fs[s.fileIndex].offset + s.fileOffset).toBe(start + at);
          at += s.length;
        }
      }
    }
  });
});
