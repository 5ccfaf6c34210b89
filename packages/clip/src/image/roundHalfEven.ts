/**
 * Python's `round()`: to the nearest integer, halves to the even one (`round(2.5) == 2`), which
 * torchvision's crop offsets and open_clip's keep-ratio resize use.
 */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}
