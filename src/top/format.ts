/** Human units for rates; shared by `iptmon top` and the web page. */

/** Bits per second in SI units (1 kbit = 1000 bit), three significant digits: "12.3 Mbit/s". */
export function humanBits(bps: number): string {
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
  if (!Number.isFinite(bps) || bps < 0) return "-";
  const shown = (x: number) => Number(x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0));
  let v = bps;
  let i = 0;
  if (shown(v) < 1000) return `${Math.round(v)} bit/s`;
  // Step up on the rounded value, so 999999 shows as 1.00 Mbit/s, not 1000 kbit/s.
  while (i < units.length - 1 && shown(v) >= 1000) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** A rate that may be unknown (a host seen for the first time). */
export function humanRate(bps: number | null): string {
  return bps === null ? "-" : humanBits(bps);
}
