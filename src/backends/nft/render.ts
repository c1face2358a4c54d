/**
 * Writes a planned change as one nft script. Pure. Ordering matters inside
 * the one transaction: elements go before the counters they name are
 * deleted, and counters exist before elements name them.
 */
import { SAFE_NAME, type Counter } from "../../model.ts";
import { CHAIN, COMMENT_PREFIX, KEYS_MAP, MAPS, type NftOptions } from "./layout.ts";
import { SAFE_STRAY, type NftChange } from "./plan.ts";

// Names and keys are already reduced to these characters; the guards make
// sure nothing else can ever reach nft syntax.
const SAFE_COMMENT = /^[A-Za-z0-9:._ -]{1,127}$/;
const SAFE_ELEMENT = /^[0-9a-fA-F:.]{2,45}$/;

function counterName(dir: "rx" | "tx", name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe host name reached the nft renderer: ${JSON.stringify(name)}`);
  return `${dir}_${name}`;
}

function comment(key: string): string {
  const c = `${COMMENT_PREFIX}${key}`.slice(0, 127);
  if (!SAFE_COMMENT.test(c)) throw new Error(`unsafe host key reached the nft renderer: ${JSON.stringify(key)}`);
  return c;
}

function element(e: string): string {
  if (!SAFE_ELEMENT.test(e)) throw new Error(`unsafe map element reached the nft renderer: ${JSON.stringify(e)}`);
  return e;
}

function counted(c: Counter): string {
  if (!Number.isSafeInteger(c.packets) || !Number.isSafeInteger(c.bytes) || c.packets < 0 || c.bytes < 0)
    throw new Error(`bad counter reached the nft renderer: ${JSON.stringify(c)}`);
  return `packets ${c.packets} bytes ${c.bytes}`;
}

export function renderNft(c: NftChange, o: NftOptions): string {
  const t = `inet ${o.table}`;
  const out: string[] = [];
  const allMaps = [...MAPS.map((m) => m.name), KEYS_MAP] as const;
  // The keys map names a host's rx counter.
  const dirOf = (m: string) => (m.startsWith("tx") ? "tx" : "rx");
  if (c.declare) {
    out.push(`table ${t} {`);
    for (const m of MAPS) out.push(`\tmap ${m.name} { type ${m.type} : counter; }`);
    out.push(`\tmap ${KEYS_MAP} { type ether_addr : counter; }`);
    out.push(`\tchain ${CHAIN} { type filter hook forward priority ${o.priority}; policy accept; }`);
    out.push("}");
    out.push(`flush chain ${t} ${CHAIN}`);
    for (const m of MAPS) out.push(`add rule ${t} ${CHAIN} counter name ${m.match} map @${m.name}`);
    // Refilled whole, so elements someone added by hand cannot pin a counter.
    for (const m of allMaps) out.push(`flush map ${t} ${m}`);
  }
  for (const m of allMaps) {
    const els = c.deleteElements[m];
    if (els?.length) out.push(`delete element ${t} ${m} { ${els.map(element).join(", ")} }`);
  }
  for (const n of c.deleteHosts) for (const dir of ["rx", "tx"] as const) out.push(`delete counter ${t} ${counterName(dir, n)}`);
  for (const n of c.deleteStrays) {
    if (!SAFE_STRAY.test(n)) throw new Error(`unsafe counter name reached the nft renderer: ${JSON.stringify(n)}`);
    out.push(`delete counter ${t} ${n}`);
  }
  for (const h of c.createHosts)
    for (const dir of ["rx", "tx"] as const) out.push(`add counter ${t} ${counterName(dir, h.name)} { ${counted(h.start[dir])}; comment "${comment(h.key)}"; }`);
  for (const m of allMaps) {
    const els = c.addElements[m];
    if (els?.length) out.push(`add element ${t} ${m} { ${els.map(([a, n]) => `${element(a)} : "${counterName(dirOf(m), n)}"`).join(", ")} }`);
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
