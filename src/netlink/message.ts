/**
 * Netlink messages of nf_tables, written and read byte by byte. Pure: the
 * unit tests compare them with what the kernel sent (test/fixtures/netlink).
 *
 * A message is a 16-byte nlmsghdr (length, type, flags, sequence, port id),
 * a 4-byte nfgenmsg (family, version 0, resource id) and attributes: 4-byte
 * headers (length, type) each padded to 4 bytes. nf_tables numbers are big
 * endian; netlink's own headers are in host order (little endian here and on
 * every router iptmon targets: x86_64, aarch64, and little-endian MIPS/ARM).
 */

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_CREATE = 0x400;
export const NLM_F_EXCL = 0x200;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

/** enum nf_tables_msg_types */
export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  NEWSET: 9,
  GETSET: 10,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
  NEWOBJ: 18,
  GETOBJ: 19,
  DELOBJ: 20,
} as const;

/** Attribute numbers (linux/netfilter/nf_tables.h). */
export const A = {
  TABLE_NAME: 1,
  TABLE_HANDLE: 4,
  CHAIN_TABLE: 1,
  CHAIN_NAME: 3,
  SET_TABLE: 1,
  SET_NAME: 2,
  SET_HANDLE: 16,
  SET_ELEM_LIST_TABLE: 1,
  SET_ELEM_LIST_SET: 2,
  SET_ELEM_LIST_ELEMENTS: 3,
  LIST_ELEM: 1,
  SET_ELEM_KEY: 1,
  SET_ELEM_OBJREF: 9,
  SET_ELEM_EXPR: 7,
  SET_ELEM_EXPRESSIONS: 11,
  EXPR_NAME: 1,
  EXPR_DATA: 2,
  DATA_VALUE: 1,
  OBJ_TABLE: 1,
  OBJ_NAME: 2,
  OBJ_TYPE: 3,
  OBJ_DATA: 4,
  OBJ_USE: 5,
  OBJ_USERDATA: 8,
  COUNTER_BYTES: 1,
  COUNTER_PACKETS: 2,
} as const;

export const NFT_OBJECT_COUNTER = 1;
/** libnftnl's user data of an object: TLVs (type, length, value); 0 is the comment, NUL-terminated. */
export const NFTNL_UDATA_OBJ_COMMENT = 0;

export const NFPROTO = { inet: 1, netdev: 5 } as const;
export type NfFamily = keyof typeof NFPROTO;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An attribute tree, written in one pass. */
export type Attr = [type: number, value: Uint8Array | string | Attr[]];

export const u32be = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
export const u64be = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
};
/** A string attribute is NUL-terminated. */
const cstr = (s: string) => {
  const e = enc.encode(s);
  const b = new Uint8Array(e.length + 1);
  b.set(e);
  return b;
};

const pad4 = (n: number) => (n + 3) & ~3;

function attrSize(a: Attr): number {
  const [, v] = a;
  const inner = typeof v === "string" ? enc.encode(v).length + 1 : v instanceof Uint8Array ? v.length : v.reduce((s, x) => s + pad4(attrSize(x)), 0);
  return 4 + inner;
}

function writeAttr(a: Attr, out: Uint8Array, view: DataView, at: number): number {
  const [type, v] = a;
  const len = attrSize(a);
  view.setUint16(at, len, true);
  view.setUint16(at + 2, Array.isArray(v) ? type | NLA_F_NESTED : type, true);
  if (typeof v === "string") out.set(cstr(v), at + 4);
  else if (v instanceof Uint8Array) out.set(v, at + 4);
  else {
    let p = at + 4;
    for (const x of v) p += pad4(writeAttr(x, out, view, p));
  }
  return len;
}

/** One message: nlmsghdr, nfgenmsg (family, version 0, resource id), attributes. Port id 0: the kernel fills in who sent it. */
export function nfMessage(type: number, flags: number, seq: number, family: number, attrs: Attr[], resId = 0): Uint8Array {
  const nfgenmsg = Uint8Array.of(family, 0, resId >> 8, resId & 0xff);
  return nlMessage(type, flags, seq, nfgenmsg, attrs);
}

/**
 * One message of another netlink family: nlmsghdr, that family's fixed header
 * (rtnetlink: ifinfomsg, ifaddrmsg, ndmsg; its numbers in host order), attributes.
 */
export function nlMessage(type: number, flags: number, seq: number, header: Uint8Array, attrs: Attr[]): Uint8Array {
  const len = 16 + pad4(header.length) + attrs.reduce((s, a) => s + pad4(attrSize(a)), 0);
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  view.setUint32(0, len, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq, true);
  out.set(header, 16);
  let p = 16 + pad4(header.length);
  for (const a of attrs) p += pad4(writeAttr(a, out, view, p));
  return out;
}

/** An nf_tables request type: subsystem in the high byte. */
export const nftType = (msg: number) => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/**
 * Messages as one batch: BEGIN, the messages, END. nf_tables applies a batch
 * as one transaction: all of it or nothing, and no packet sees half of it.
 */
export function nfBatch(messages: Uint8Array[], firstSeq: number): Uint8Array {
  const begin = nfMessage(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, firstSeq, 0, [], NFNL_SUBSYS_NFTABLES);
  const end = nfMessage(NFNL_MSG_BATCH_END, NLM_F_REQUEST, firstSeq + messages.length + 1, 0, [], NFNL_SUBSYS_NFTABLES);
  return concatBytes([begin, ...messages, end]);
}

/** Byte arrays one after the other. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, m) => s + m.length, 0));
  let p = 0;
  for (const m of parts) {
    out.set(m, p);
    p += m.length;
  }
  return out;
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  portId: number;
  /** After the nlmsghdr (nfgenmsg and attributes, or an nlmsgerr). */
  body: Uint8Array;
}

/** The messages of one datagram. */
export function parseMessages(buf: Uint8Array): NlMessage[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMessage[] = [];
  let p = 0;
  while (p + 16 <= buf.length) {
    const len = view.getUint32(p, true);
    if (len < 16 || p + len > buf.length) throw new Error(`malformed netlink message at ${p} (length ${len} of ${buf.length})`);
    out.push({ type: view.getUint16(p + 4, true), flags: view.getUint16(p + 6, true), seq: view.getUint32(p + 8, true), portId: view.getUint32(p + 12, true), body: buf.subarray(p + 16, p + len) });
    p += pad4(len);
  }
  return out;
}

/** An NLMSG_ERROR's error number (0: an ack) and the kernel's message, if it sent one. */
export function parseError(m: NlMessage): { errno: number; seq: number; text: string | null } {
  const view = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const errno = -view.getInt32(0, true);
  const seq = view.getUint32(4 + 8, true);
  // With NETLINK_CAP_ACK the request comes back as its header only; then the extended ack TLVs.
  let text: string | null = null;
  if (m.flags & 0x200 /* NLM_F_ACK_TLVS */) {
    const origLen = m.flags & 0x100 /* NLM_F_CAPPED */ ? 16 : view.getUint32(4, true);
    const tlvs = attrs(m.body.subarray(4 + pad4(origLen)));
    const msg = tlvs.get(1 /* NLMSGERR_ATTR_MSG */)?.[0];
    if (msg) text = str(msg);
  }
  return { errno, seq, text };
}

/** Attributes by type (nesting flags masked off); a type may repeat (list elements). */
export function attrs(b: Uint8Array): Map<number, Uint8Array[]> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Map<number, Uint8Array[]>();
  let p = 0;
  while (p + 4 <= b.length) {
    const len = view.getUint16(p, true);
    if (len < 4 || p + len > b.length) break;
    const type = view.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const v = b.subarray(p + 4, p + len);
    const list = out.get(type);
    if (list) list.push(v);
    else out.set(type, [v]);
    p += pad4(len);
  }
  return out;
}

/** The attributes of an nf_tables message (after its nfgenmsg). */
export const nfAttrs = (m: NlMessage) => attrs(m.body.subarray(4));

export const str = (v: Uint8Array) => dec.decode(v[v.length - 1] === 0 ? v.subarray(0, v.length - 1) : v);
export const readU64be = (v: Uint8Array) => Number(new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0));
export const readU32be = (v: Uint8Array) => new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(0);

/** libnftnl's user data TLVs: one byte type, one byte length. */
export function udata(v: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let p = 0; p + 2 <= v.length; ) {
    const len = v[p + 1]!;
    out.set(v[p]!, v.subarray(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return out;
}

export function udataComment(comment: string): Uint8Array {
  const c = cstr(comment);
  if (c.length > 255) throw new Error("comment too long for nf_tables user data");
  const out = new Uint8Array(2 + c.length);
  out[0] = NFTNL_UDATA_OBJ_COMMENT;
  out[1] = c.length;
  out.set(c, 2);
  return out;
}
