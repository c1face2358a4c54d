/**
 * nf_tables over netlink: the reads an event and `status` need (a map's
 * elements, counters, whether the table and its chains are there) and the
 * changes an event makes (counters and map elements), each change one
 * batch, so one transaction. Whole rulesets are
 * still written by `nft -f` (see the nft backend).
 */
import {
  A,
  concatBytes,
  attrs as attrsOf,
  NFPROTO,
  NFT_MSG,
  NFT_OBJECT_COUNTER,
  NFTNL_UDATA_OBJ_COMMENT,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  nfAttrs,
  nfBatch,
  nfMessage,
  nftType,
  parseError,
  parseMessages,
  str,
  u32be,
  u64be,
  udataComment,
  type Attr,
  type NfFamily,
  type NlMessage,
} from "./message.ts";
import type { NetlinkSocket } from "./socket.ts";

export interface NfCounter {
  name: string;
  packets: number;
  bytes: number;
  comment: string | null;
  /** How many map elements (and rules) name it, as nf_tables counts; null where it does not say. */
  use: number | null;
}

export interface NfElement {
  key: Uint8Array;
  /** The object (counter) the element maps to. */
  ref: string;
}

export interface NfCountedElement {
  key: Uint8Array;
  packets: number;
  bytes: number;
}

export type NfOp =
  | { op: "add-counter"; name: string; packets: number; bytes: number; comment: string }
  | { op: "delete-counter"; name: string }
  | { op: "add-elements"; set: string; elements: NfElement[] }
  | { op: "delete-elements"; set: string; keys: Uint8Array[] };

/** What nf_tables refused, with its errno (2: no such object, 17: exists). */
export class NfError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

export const ENOENT = 2;

/** Lookups sent in one datagram: their answers (~200 bytes each) fit the receive buffer many times over. */
const COUNTER_BATCH = 64;

const ERRNO: Record<number, string> = { 1: "Operation not permitted", 2: "No such file or directory", 16: "Device or resource busy", 17: "File exists", 22: "Invalid argument", 95: "Operation not supported" };

export class NfTables {
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  constructor(private readonly sock: NetlinkSocket) {}

  /** A dump: every reply message up to NLMSG_DONE. */
  private dump(msg: number, family: NfFamily, attrs: Attr[]): NlMessage[] {
    const seq = ++this.seq;
    this.sock.send(nfMessage(nftType(msg), NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO[family], attrs));
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of parseMessages(this.sock.recv())) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_DONE) return out;
        if (m.type === NLMSG_ERROR) this.fail(m, "dump");
        out.push(m);
        if (!(m.flags & NLM_F_MULTI)) return out;
      }
    }
  }

  /** A single get: its one reply. */
  private get(msg: number, family: NfFamily, attrs: Attr[]): NlMessage {
    const seq = ++this.seq;
    this.sock.send(nfMessage(nftType(msg), NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO[family], attrs));
    let reply: NlMessage | undefined;
    for (;;) {
      for (const m of parseMessages(this.sock.recv())) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const e = parseError(m);
          if (e.errno !== 0) this.fail(m, "get");
          if (!reply) throw new NfError("nf_tables acknowledged a get with no reply", 0);
          return reply;
        }
        reply = m;
      }
    }
  }

  private fail(m: NlMessage, what: string): never {
    const e = parseError(m);
    throw new NfError(`nf_tables refused the ${what}: ${e.text ?? ERRNO[e.errno] ?? `errno ${e.errno}`}`, e.errno);
  }

  /** Every element of a map (key, counter name). Throws NfError ENOENT when the table or map is not there. */
  elements(family: NfFamily, table: string, set: string): NfElement[] {
    const out: NfElement[] = [];
    for (const m of this.dump(NFT_MSG.GETSETELEM, family, [[A.SET_ELEM_LIST_TABLE, table], [A.SET_ELEM_LIST_SET, set]])) {
      for (const list of nfAttrs(m).get(A.SET_ELEM_LIST_ELEMENTS) ?? []) out.push(...listElements(list));
    }
    return out;
  }

  /** Every element of a set whose elements carry a counter (key, counts). Throws NfError ENOENT when the table or set is not there. */
  countedElements(family: NfFamily, table: string, set: string): NfCountedElement[] {
    const out: NfCountedElement[] = [];
    for (const m of this.dump(NFT_MSG.GETSETELEM, family, [[A.SET_ELEM_LIST_TABLE, table], [A.SET_ELEM_LIST_SET, set]])) {
      for (const list of nfAttrs(m).get(A.SET_ELEM_LIST_ELEMENTS) ?? []) out.push(...listCountedElements(list));
    }
    return out;
  }

  /** Every counter of a table. */
  counters(family: NfFamily, table: string): NfCounter[] {
    return this.dump(NFT_MSG.GETOBJ, family, [[A.OBJ_TABLE, table], [A.OBJ_TYPE, u32be(NFT_OBJECT_COUNTER)]])
      .map(counterOf)
      .filter((c): c is NfCounter => c !== null);
  }

  /** One counter, or null when there is none of that name. */
  counter(family: NfFamily, table: string, name: string): NfCounter | null {
    try {
      return counterOf(this.get(NFT_MSG.GETOBJ, family, [[A.OBJ_TABLE, table], [A.OBJ_NAME, name], [A.OBJ_TYPE, u32be(NFT_OBJECT_COUNTER)]]));
    } catch (e) {
      if (e instanceof NfError && e.errno === ENOENT) return null;
      throw e;
    }
  }

  /**
   * Counters by name, as many as asked, in that order (null: none of that
   * name): `counter` for each, but the requests go out a few dozen to a
   * datagram, unacknowledged (each has one answer, its reply or its error),
   * so a few hundred lookups cost a few sends and one receive each.
   */
  countersNamed(family: NfFamily, table: string, names: readonly string[]): (NfCounter | null)[] {
    const out: (NfCounter | null)[] = [];
    for (let from = 0; from < names.length; from += COUNTER_BATCH) {
      const chunk = names.slice(from, from + COUNTER_BATCH);
      const first = this.seq + 1;
      this.seq += chunk.length;
      this.sock.send(
        concatBytes(chunk.map((name, i) => nfMessage(nftType(NFT_MSG.GETOBJ), NLM_F_REQUEST, first + i, NFPROTO[family], [[A.OBJ_TABLE, table], [A.OBJ_NAME, name], [A.OBJ_TYPE, u32be(NFT_OBJECT_COUNTER)]]))),
      );
      // Unacknowledged, each request has one answer: its reply, or an error (ENOENT: no such counter).
      const got: (NfCounter | null | undefined)[] = chunk.map(() => undefined);
      let pending = chunk.length;
      while (pending > 0) {
        for (const m of parseMessages(this.sock.recv())) {
          const i = m.seq - first;
          if (i < 0 || i >= chunk.length || got[i] !== undefined) continue;
          if (m.type === NLMSG_ERROR) {
            const e = parseError(m);
            if (e.errno !== ENOENT) this.fail(m, "get");
            got[i] = null;
          } else got[i] = counterOf(m);
          pending--;
        }
      }
      out.push(...(got as (NfCounter | null)[]));
    }
    return out;
  }

  /** The counter one element of a map names, or null when the map has no element of that key. Throws NfError ENOENT when the map is not there. */
  element(family: NfFamily, table: string, set: string, key: Uint8Array): string | null {
    let reply: NlMessage;
    try {
      reply = this.get(NFT_MSG.GETSETELEM, family, [[A.SET_ELEM_LIST_TABLE, table], [A.SET_ELEM_LIST_SET, set], [A.SET_ELEM_LIST_ELEMENTS, [elementAttr(key)]]]);
    } catch (e) {
      // No such element: nf_tables says ENOENT, as it does for no such map.
      if (e instanceof NfError && e.errno === ENOENT && this.hasSet(family, table, set)) return null;
      throw e;
    }
    for (const list of nfAttrs(reply).get(A.SET_ELEM_LIST_ELEMENTS) ?? []) for (const el of listElements(list)) return el.ref;
    return null;
  }

  /** Whether a set (or map) of that name is there. */
  hasSet(family: NfFamily, table: string, set: string): boolean {
    return this.exists(NFT_MSG.GETSET, family, [[A.SET_TABLE, table], [A.SET_NAME, set]]);
  }

  /** Names of a table's chains (or sets: GETSET); empty when there is no such table. */
  names(what: "chains" | "sets", family: NfFamily, table: string): string[] {
    const [msg, tableAttr, nameAttr] = what === "chains" ? [NFT_MSG.GETCHAIN, A.CHAIN_TABLE, A.CHAIN_NAME] : [NFT_MSG.GETSET, A.SET_TABLE, A.SET_NAME];
    try {
      return this.dump(msg, family, [[tableAttr, table]]).flatMap((m) => {
        const a = nfAttrs(m);
        return a.get(tableAttr)?.[0] && str(a.get(tableAttr)![0]!) === table && a.get(nameAttr)?.[0] ? [str(a.get(nameAttr)![0]!)] : [];
      });
    } catch (e) {
      if (e instanceof NfError && e.errno === ENOENT) return [];
      throw e;
    }
  }

  /**
   * A table's handle and each of its sets' (name -> handle), as text: a set
   * or table made anew has a new one (table handles are unique in a network
   * namespace, set handles in their table). Null when the table is not there.
   */
  handles(family: NfFamily, table: string): { table: string; sets: Map<string, string> } | null {
    let t: NlMessage;
    try {
      t = this.get(NFT_MSG.GETTABLE, family, [[A.TABLE_NAME, table]]);
    } catch (e) {
      if (e instanceof NfError && e.errno === ENOENT) return null;
      throw e;
    }
    const u64 = (b: Uint8Array | undefined) => (b && b.length === 8 ? String(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)) : "?");
    const sets = new Map<string, string>();
    for (const m of this.dump(NFT_MSG.GETSET, family, [[A.SET_TABLE, table]])) {
      const a = nfAttrs(m);
      const name = a.get(A.SET_NAME)?.[0];
      if (name && a.get(A.SET_TABLE)?.[0] && str(a.get(A.SET_TABLE)![0]!) === table) sets.set(str(name), u64(a.get(A.SET_HANDLE)?.[0]));
    }
    return { table: u64(nfAttrs(t).get(A.TABLE_HANDLE)?.[0]), sets };
  }

  /** Whether the table exists. */
  hasTable(family: NfFamily, table: string): boolean {
    return this.exists(NFT_MSG.GETTABLE, family, [[A.TABLE_NAME, table]]);
  }

  private exists(msg: number, family: NfFamily, attrs: Attr[]): boolean {
    try {
      this.get(msg, family, attrs);
      return true;
    } catch (e) {
      if (e instanceof NfError && e.errno === ENOENT) return false;
      throw e;
    }
  }

  /** Changes, in order, as one transaction: all applied or none. */
  commit(family: NfFamily, table: string, ops: NfOp[]): void {
    if (ops.length === 0) return;
    const first = ++this.seq;
    const msgs = encodeOps(family, table, ops, first + 1);
    this.seq += msgs.length + 1;
    this.sock.send(nfBatch(msgs, first));
    // nf_tables handles a batch while it is sent: every message's ack or error is queued when send returns.
    let pending = msgs.length;
    let failure: NfError | null = null;
    while (pending > 0) {
      for (const m of parseMessages(this.sock.recv())) {
        if (m.type !== NLMSG_ERROR || m.seq <= first || m.seq > first + msgs.length) continue;
        pending--;
        const e = parseError(m);
        if (e.errno !== 0 && !failure) {
          const op = ops[m.seq - first - 1];
          failure = new NfError(`nf_tables refused ${op ? describeOp(op) : "the change"}: ${e.text ?? ERRNO[e.errno] ?? `errno ${e.errno}`}`, e.errno);
          // An aborted batch acknowledges nothing after the failing message.
          pending = 0;
        }
      }
    }
    if (failure) throw failure;
  }
}

function describeOp(op: NfOp): string {
  switch (op.op) {
    case "add-counter":
      return `adding counter ${op.name}`;
    case "delete-counter":
      return `deleting counter ${op.name}`;
    case "add-elements":
      return `adding elements to ${op.set}`;
    case "delete-elements":
      return `deleting elements of ${op.set}`;
  }
}

const elementAttr = (key: Uint8Array, ref?: string): Attr => [A.LIST_ELEM, [[A.SET_ELEM_KEY, [[A.DATA_VALUE, key]]], ...(ref === undefined ? [] : [[A.SET_ELEM_OBJREF, ref] as Attr])]];

/** The batch's messages for `ops`, numbered from `seq`; each asks for an ack. */
export function encodeOps(family: NfFamily, table: string, ops: NfOp[], seq: number): Uint8Array[] {
  const f = NFPROTO[family];
  return ops.map((op, i) => {
    const s = seq + i;
    switch (op.op) {
      // Create without EXCL, as `nft add` sends them: a counter, or an
      // identical element, that is there already is no error (a table
      // someone edited), so netlink and `nft -f` accept the same changes.
      case "add-counter":
        return nfMessage(nftType(NFT_MSG.NEWOBJ), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, s, f, [
          [A.OBJ_TABLE, table],
          [A.OBJ_NAME, op.name],
          [A.OBJ_TYPE, u32be(NFT_OBJECT_COUNTER)],
          [A.OBJ_USERDATA, udataComment(op.comment)],
          [A.OBJ_DATA, [[A.COUNTER_BYTES, u64be(op.bytes)], [A.COUNTER_PACKETS, u64be(op.packets)]]],
        ]);
      case "delete-counter":
        return nfMessage(nftType(NFT_MSG.DELOBJ), NLM_F_REQUEST | NLM_F_ACK, s, f, [
          [A.OBJ_TABLE, table],
          [A.OBJ_NAME, op.name],
          [A.OBJ_TYPE, u32be(NFT_OBJECT_COUNTER)],
          // As nft sends it: an empty data attribute.
          [A.OBJ_DATA, []],
        ]);
      case "add-elements":
        return nfMessage(nftType(NFT_MSG.NEWSETELEM), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, s, f, [
          [A.SET_ELEM_LIST_TABLE, table],
          [A.SET_ELEM_LIST_SET, op.set],
          [A.SET_ELEM_LIST_ELEMENTS, op.elements.map((e) => elementAttr(e.key, e.ref))],
        ]);
      case "delete-elements":
        return nfMessage(nftType(NFT_MSG.DELSETELEM), NLM_F_REQUEST | NLM_F_ACK, s, f, [
          [A.SET_ELEM_LIST_TABLE, table],
          [A.SET_ELEM_LIST_SET, op.set],
          [A.SET_ELEM_LIST_ELEMENTS, op.keys.map((k) => elementAttr(k))],
        ]);
    }
  });
}

/**
 * The elements inside one NFTA_SET_ELEM_LIST_ELEMENTS: a dump of thousands,
 * so walked in place (no attribute maps, no copies).
 */
export function listElements(list: Uint8Array): NfElement[] {
  const out: NfElement[] = [];
  const dv = new DataView(list.buffer, list.byteOffset, list.byteLength);
  const end = list.length;
  for (let p = 0; p + 4 <= end; ) {
    const len = dv.getUint16(p, true);
    if (len < 4 || p + len > end) break;
    if ((dv.getUint16(p + 2, true) & 0x3fff) === A.LIST_ELEM) {
      let key: Uint8Array | undefined;
      let ref: string | undefined;
      for (let q = p + 4; q + 4 <= p + len; ) {
        const l = dv.getUint16(q, true);
        if (l < 4 || q + l > p + len) break;
        const t = dv.getUint16(q + 2, true) & 0x3fff;
        if (t === A.SET_ELEM_KEY && l >= 8 && (dv.getUint16(q + 6, true) & 0x3fff) === A.DATA_VALUE) {
          const vl = dv.getUint16(q + 4, true);
          if (vl >= 4 && 4 + vl <= l) key = list.subarray(q + 8, q + 4 + vl);
        } else if (t === A.SET_ELEM_OBJREF) ref = ascii(list, q + 4, q + l);
        q += (l + 3) & ~3;
      }
      if (key && ref !== undefined) out.push({ key, ref });
    }
    p += (len + 3) & ~3;
  }
  return out;
}

/**
 * The elements of a set with a counter per element (a dynamic set the
 * datapath fills): the key and the counter's values. The kernel sends one
 * expression as NFTA_SET_ELEM_EXPR, several as NFTA_SET_ELEM_EXPRESSIONS
 * (a list); either holds NFTA_EXPR_NAME "counter" and its NFTA_EXPR_DATA.
 */
export function listCountedElements(list: Uint8Array): NfCountedElement[] {
  const out: NfCountedElement[] = [];
  const dv = new DataView(list.buffer, list.byteOffset, list.byteLength);
  /** Each attribute in [from, to): its type and where its payload is. */
  const walk = (from: number, to: number, fn: (type: number, at: number, end: number) => void) => {
    for (let q = from; q + 4 <= to; ) {
      const l = dv.getUint16(q, true);
      if (l < 4 || q + l > to) break;
      fn(dv.getUint16(q + 2, true) & 0x3fff, q + 4, q + l);
      q += (l + 3) & ~3;
    }
  };
  const u64 = (at: number) => dv.getUint32(at) * 4294967296 + dv.getUint32(at + 4);
  /** One expression: its counts when it is a counter. */
  const counter = (from: number, to: number, into: { packets?: number; bytes?: number }) => {
    let name = "";
    let data: [number, number] | null = null;
    walk(from, to, (t, at, end) => {
      if (t === A.EXPR_NAME) name = ascii(list, at, end);
      else if (t === A.EXPR_DATA) data = [at, end];
    });
    if (name !== "counter" || !data) return;
    walk(data[0], data[1], (t, at, end) => {
      if (end - at !== 8) return;
      if (t === A.COUNTER_BYTES) into.bytes = u64(at);
      else if (t === A.COUNTER_PACKETS) into.packets = u64(at);
    });
  };
  walk(0, list.length, (t, at, end) => {
    if (t !== A.LIST_ELEM) return;
    let key: Uint8Array | undefined;
    const c: { packets?: number; bytes?: number } = {};
    walk(at, end, (u, bt, bend) => {
      if (u === A.SET_ELEM_KEY) walk(bt, bend, (v, ct, cend) => { if (v === A.DATA_VALUE) key = list.subarray(ct, cend); });
      else if (u === A.SET_ELEM_EXPR) counter(bt, bend, c);
      else if (u === A.SET_ELEM_EXPRESSIONS) walk(bt, bend, (v, ct, cend) => { if (v === A.LIST_ELEM) counter(ct, cend, c); });
    });
    if (key && c.packets !== undefined && c.bytes !== undefined) out.push({ key, packets: c.packets, bytes: c.bytes });
  });
  return out;
}

/** A NUL-terminated name nf_tables sent (iptmon's names are ASCII; anything else is decoded as UTF-8). */
function ascii(b: Uint8Array, from: number, to: number): string {
  let end = from;
  let high = false;
  for (; end < to && b[end] !== 0; end++) if (b[end]! >= 0x80) high = true;
  const bytes = b.subarray(from, end);
  // Names and comments are short (at most 256 bytes): one call, no decoder.
  return high ? str(bytes) : String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** A GETOBJ reply as a counter (null for another kind of object); walked in place, a dump has thousands. */
export function counterOf(m: NlMessage): NfCounter | null {
  const b = m.body;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let name: string | undefined;
  let bytes: number | undefined;
  let packets: number | undefined;
  let comment: string | null = null;
  let use: number | null = null;
  for (let p = 4; p + 4 <= b.length; ) {
    const len = dv.getUint16(p, true);
    if (len < 4 || p + len > b.length) break;
    const t = dv.getUint16(p + 2, true) & 0x3fff;
    if (t === A.OBJ_NAME) name = ascii(b, p + 4, p + len);
    else if (t === A.OBJ_USE && len === 8) use = dv.getUint32(p + 4);
    else if (t === A.OBJ_DATA)
      for (let q = p + 4; q + 4 <= p + len; ) {
        const l = dv.getUint16(q, true);
        if (l < 4 || q + l > p + len) break;
        const u = dv.getUint16(q + 2, true) & 0x3fff;
        // A u64, big-endian, read as two halves (no BigInt per value: a dump has thousands).
        if (l === 12 && u === A.COUNTER_BYTES) bytes = dv.getUint32(q + 4) * 4294967296 + dv.getUint32(q + 8);
        else if (l === 12 && u === A.COUNTER_PACKETS) packets = dv.getUint32(q + 4) * 4294967296 + dv.getUint32(q + 8);
        q += (l + 3) & ~3;
      }
    else if (t === A.OBJ_USERDATA) {
      // libnftnl's TLVs (one byte type, one byte length), walked in place; the last comment wins, as udata's map has it.
      for (let q = p + 4; q + 2 <= p + len; ) {
        const l = b[q + 1]!;
        if (b[q] === NFTNL_UDATA_OBJ_COMMENT) comment = ascii(b, q + 2, Math.min(q + 2 + l, p + len));
        q += 2 + l;
      }
    }
    p += (len + 3) & ~3;
  }
  return name !== undefined && bytes !== undefined && packets !== undefined ? { name, packets, bytes, comment, use } : null;
}

