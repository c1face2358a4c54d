/** Human units; shared by `iptmon status`, `iptmon top` and the web page (so nothing else may be imported here). */

/** Bytes in binary units: "1.50 MiB". */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  // Step up on the rounded value, so 1048575 shows as 1.00 MiB, not 1024 KiB.
  const shown = (x: number) => Number(x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0));
  while (i < units.length - 1 && (i === 0 ? v >= 1024 : shown(v) >= 1024)) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

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
