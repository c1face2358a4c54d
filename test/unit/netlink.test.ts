/**
 * nf_tables' netlink messages, against the kernel and nft themselves
 * (test/fixtures/netlink, made by its capture.ts): each change encodes to the
 * attributes nft 1.0 sends for the same change, and the kernel's replies
 * decode to what `nft -j` lists for the same table.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { keyBytes, keyText, netlinkOps, readMapsNetlink } from "../../src/backends/nft/netlink.ts";
import type { NftChange } from "../../src/backends/nft/plan.ts";
import { A, attrs, NFT_MSG, nftType, nfMessage, parseMessages, type NlMessage } from "../../src/netlink/message.ts";
import { counterOf, encodeOps, NfError, NfTables, type NfOp } from "../../src/netlink/nftables.ts";
import type { NetlinkSocket } from "../../src/netlink/socket.ts";

const DIR = `${import.meta.dir}/../fixtures/netlink`;
const text = (name: string) => readFileSync(`${DIR}/${name}`, "utf8");

/** The messages in nft's `--debug=mnl` output, rebuilt as bytes (flags beyond R/M/A/E are not printed: left 0). */
function mnlMessages(out: string): { type: number; bytes: Uint8Array }[] {
  const msgs: { type: number; bytes: number[] }[] = [];
  let cur: { type: number; bytes: number[] } | null = null;
  const le = (n: number, size: number) => Array.from({ length: size }, (_, i) => (n >> (8 * i)) & 255);
  for (const line of out.split("\n")) {
    let m: RegExpExecArray | null;
    if (/message length/.test(line)) {
      cur = { type: 0, bytes: [] };
      msgs.push(cur);
    } else if (cur && (m = /^\| (\d{5}) \| [-RMAE]{4} \|/.exec(line))) cur.type = Number(m[1]);
    else if (cur && (m = /^\|(\d{5})\|([-NB]{2})\|(\d{5})\|/.exec(line))) {
      const flags = (m[2]![0] === "N" ? 0x8000 : 0) | (m[2]![1] === "B" ? 0x4000 : 0);
      cur.bytes.push(...le(Number(m[1]), 2), ...le(Number(m[3]) | flags, 2));
    } else if (cur && (m = /^\| ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})  \|/.exec(line))) cur.bytes.push(...m.slice(1, 5).map((h) => Number.parseInt(h, 16)));
  }
  return msgs.map((x) => ({ type: x.type, bytes: Uint8Array.from(x.bytes) }));
}

/** An attribute tree, children sorted by type, values as hex: equal trees say the same thing. */
type Tree = [number, string | Tree][];
function tree(b: Uint8Array, nested: (path: number[]) => boolean, path: number[] = []): Tree {
  const out: Tree = [];
  for (const [type, values] of attrs(b)) for (const v of values) out.push([type, nested([...path, type]) ? tree(v, nested, [...path, type]) : Buffer.from(v).toString("hex")]);
  return out.sort((x, y) => x[0] - y[0] || JSON.stringify(x[1]).localeCompare(JSON.stringify(y[1])));
}
// Which attributes nest: NFTA_OBJ_DATA; NFTA_SET_ELEM_LIST_ELEMENTS > NFTA_LIST_ELEM > NFTA_SET_ELEM_KEY.
const NESTED = new Set([`${A.OBJ_DATA}`, `${A.SET_ELEM_LIST_ELEMENTS}`, `${A.SET_ELEM_LIST_ELEMENTS},${A.LIST_ELEM}`, `${A.SET_ELEM_LIST_ELEMENTS},${A.LIST_ELEM},${A.SET_ELEM_KEY}`]);
const isObj = (type: number) => type === nftType(NFT_MSG.NEWOBJ) || type === nftType(NFT_MSG.DELOBJ);
const treeOf = (type: number, body: Uint8Array) => ({ family: body[0], tree: tree(body.subarray(4), (p) => (isObj(type) ? p.length === 1 && p[0] === A.OBJ_DATA : NESTED.has(p.join(",")))) });

/** The change message nft sent (the one of `type` inside its batch). */
function nftSent(fixture: string, msg: number) {
  const m = mnlMessages(text(fixture)).find((x) => x.type === nftType(msg));
  if (!m) throw new Error(`no message ${msg} in ${fixture}`);
  const t = treeOf(m.type, m.bytes);
  // NFTA_SET_ELEM_LIST_SET_ID names a set made in the same batch; iptmon's sets exist already.
  if (msg === NFT_MSG.NEWSETELEM || msg === NFT_MSG.DELSETELEM) t.tree = t.tree.filter(([type]) => type !== 4);
  return t;
}
function oursSent(op: NfOp) {
  const [m] = parseMessages(encodeOps("inet", "t", [op], 1)[0]!);
  return treeOf(m!.type, m!.body);
}

describe("encoding: what nft sends for the same change", () => {
  const NEW = "02:00:00:00:00:20";
  test("a counter with its numbers and comment", () => {
    expect(oursSent({ op: "add-counter", name: "rx_new", packets: 7, bytes: 700, comment: `iptmon: ${NEW}` })).toEqual(nftSent("nft-add-counter.mnl", NFT_MSG.NEWOBJ));
  });
  test("a counter deleted", () => {
    expect(oursSent({ op: "delete-counter", name: "rx_new" })).toEqual(nftSent("nft-delete-counter.mnl", NFT_MSG.DELOBJ));
  });
  test.each([
    ["rx4", "192.168.1.120"],
    ["rx6", "fd00::20"],
    ["keys", NEW],
  ])("an element of %s added and deleted", (set, key) => {
    expect(oursSent({ op: "add-elements", set, elements: [{ key: keyBytes(key), ref: "rx_new" }] })).toEqual(nftSent(`nft-add-element-${set}.mnl`, NFT_MSG.NEWSETELEM));
    expect(oursSent({ op: "delete-elements", set, keys: [keyBytes(key)] })).toEqual(nftSent(`nft-delete-element-${set}.mnl`, NFT_MSG.DELSETELEM));
  });
  test("nft's debug output is read whole: the batch around the change is there too", () => {
    const types = mnlMessages(text("nft-add-counter.mnl")).map((m) => m.type);
    expect(types).toContain(0x10); // batch begin
    expect(types).toContain(0x11); // batch end
  });
});

/** A socket that answers with the captured datagrams, renumbered to the request's sequence. */
function replaying(...fixtures: string[]): NetlinkSocket & { sent: Uint8Array[] } {
  const queue = fixtures.flatMap((f) => text(f).trim().split("\n").map((h) => Uint8Array.from(Buffer.from(h, "hex"))));
  let seq = 0;
  const sent: Uint8Array[] = [];
  return {
    portId: 1,
    sent,
    send(d) {
      sent.push(d);
      const msgs = parseMessages(d);
      seq = msgs.length > 1 ? msgs[1]!.seq : msgs[0]!.seq;
    },
    recv() {
      const d = queue.shift();
      if (!d) throw new Error("no more replies");
      const view = new DataView(d.buffer);
      for (let p = 0; p + 16 <= d.length; p += (view.getUint32(p, true) + 3) & ~3) {
        view.setUint32(p + 8, seq, true);
        // An error carries the sequence of what it answers too.
        if (view.getUint16(p + 4, true) === 2) view.setUint32(p + 16 + 4 + 8, seq, true);
      }
      return d;
    },
    close() {},
  };
}

interface NftJson {
  nftables: { map?: { name: string; elem: [string, string][] }; counter?: { name: string; packets: number; bytes: number; comment: string } }[];
}
const TABLE = JSON.parse(text("table.json")) as NftJson;
const jsonMap = (name: string) => TABLE.nftables.find((o) => o.map?.name === name)!.map!.elem.map(([k, v]) => [k, v]);

describe("decoding: the kernel's replies say what nft -j lists", () => {
  test.each(["rx4", "rx6", "keys"])("the elements of %s", (set) => {
    const nf = new NfTables(replaying(`reply-elements-${set}.hex`));
    const got = nf.elements("inet", "t", set).map((e) => [keyText(e.key), e.ref]);
    expect(got.sort()).toEqual(jsonMap(set).sort());
  });

  test("every counter, with its numbers, comment and the number of elements naming it", () => {
    const nf = new NfTables(replaying("reply-counters.hex"));
    const refs = TABLE.nftables.flatMap((o) => o.map?.elem.map(([, ref]) => ref) ?? []);
    const want = TABLE.nftables.flatMap((o) =>
      o.counter ? [{ name: o.counter.name, packets: o.counter.packets, bytes: o.counter.bytes, comment: o.counter.comment, use: refs.filter((r) => r === o.counter!.name).length }] : [],
    );
    expect(nf.counters("inet", "t")).toEqual(want);
  });

  test("a counter's 64-bit numbers and comment, as the add that created it carried them (beyond 2^32, up to 2^53)", () => {
    for (const [packets, bytes] of [
      [0, 0],
      [2 ** 32 - 1, 2 ** 32],
      [2 ** 40 + 5, 2 ** 53 - 1],
      [123_456_789_012, 9_876_543_210_987],
    ]) {
      const [m] = parseMessages(encodeOps("inet", "t", [{ op: "add-counter", name: "rx_h", packets: packets!, bytes: bytes!, comment: "iptmon: 02:00:00:00:00:01" }], 1)[0]!);
      expect(counterOf(m!)).toEqual({ name: "rx_h", packets: packets!, bytes: bytes!, comment: "iptmon: 02:00:00:00:00:01", use: null });
    }
  });

  test("one counter, with the number of elements naming it (two addresses, its MAC, its name)", () => {
    expect(new NfTables(replaying("reply-counter-laptop.hex")).counter("inet", "t", "rx_laptop")).toEqual({
      name: "rx_laptop",
      packets: 12,
      bytes: 3456,
      comment: "iptmon: 02:00:00:00:00:01",
      use: 4,
    });
  });

  test("one element by its key: the counter it names, null for no such key, an error for no such map", () => {
    expect(new NfTables(replaying("reply-element-keys-laptop.hex")).element("inet", "t", "keys", Uint8Array.of(2, 0, 0, 0, 0, 1))).toBe("rx_laptop");
    expect(new NfTables(replaying("reply-element-keys-missing.hex")).element("inet", "t", "keys", Uint8Array.of(2, 0, 0, 0, 0, 0x99))).toBeNull();
    expect(() => new NfTables(replaying("reply-element-map-missing.hex")).element("inet", "t", "nomap", Uint8Array.of(2, 0, 0, 0, 0, 1))).toThrow(NfError);
  });

  test("a counter that is not there is null, from the kernel's ENOENT", () => {
    expect(new NfTables(replaying("reply-counter-missing.hex")).counter("inet", "t", "rx_nobody")).toBeNull();
  });

  test("a refused change is an NfError with the kernel's errno, naming what was refused", () => {
    const nf = new NfTables(replaying("reply-commit-busy.hex"));
    let err: unknown;
    try {
      nf.commit("inet", "t", [{ op: "delete-counter", name: "rx_laptop" }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NfError);
    expect((err as NfError).errno).toBe(16);
    expect((err as NfError).message).toBe("nf_tables refused deleting counter rx_laptop: Device or resource busy");
  });

  test("a change goes as one batch: begin, every message asking for an ack, end", () => {
    const sock = replaying("reply-commit-busy.hex");
    try {
      new NfTables(sock).commit("inet", "t", [
        { op: "add-counter", name: "rx_a", packets: 0, bytes: 0, comment: "iptmon: a" },
        { op: "add-elements", set: "rx4", elements: [{ key: keyBytes("192.168.1.9"), ref: "rx_a" }] },
      ]);
    } catch {
      // the replayed refusal
    }
    expect(sock.sent).toHaveLength(1);
    const msgs: NlMessage[] = parseMessages(sock.sent[0]!);
    expect(msgs.map((m) => m.type)).toEqual([0x10, nftType(NFT_MSG.NEWOBJ), nftType(NFT_MSG.NEWSETELEM), 0x11]);
    expect(msgs.slice(1, 3).every((m) => (m.flags & 0x4) !== 0)).toBe(true);
    expect(new Set(msgs.map((m) => m.seq)).size).toBe(4);
  });
});

describe("the backend's reads and changes over netlink", () => {
  test("keys: addresses and MACs both ways, in nft's spelling", () => {
    for (const k of ["192.168.1.120", "fd00::1:65", "2001:db8::a:0:0:1", "02:00:00:00:00:0a"]) expect(keyText(keyBytes(k))).toBe(k);
    expect(() => keyBytes("192.168.1.1; flush ruleset")).toThrow(/unsafe map element/);
  });

  test("a change becomes operations in the renderer's order; a declare never does", () => {
    const change: NftChange = {
      placement: "forward",
      declare: false,
      deleteElements: { rx4: ["192.168.1.104"], tx4: ["192.168.1.104"], keys: ["02:00:00:00:00:04"] },
      deleteHosts: ["desk"],
      deleteStrays: [],
      deleteCarries: [],
      createCarries: [],
      retire: [],
      createHosts: [{ key: "02:00:00:00:00:20", name: "new", start: { rx: { packets: 1, bytes: 2 }, tx: { packets: 3, bytes: 4 } } }],
      addElements: { rx4: [["192.168.1.120", "new"]], tx4: [["192.168.1.120", "new"]], keys: [["02:00:00:00:00:20", "new"]] },
    };
    const ops = netlinkOps(change, { table: "iptmon", priority: -1, placement: "forward" });
    expect(ops.map((o) => `${o.op} ${"name" in o ? o.name : o.set}`)).toEqual([
      "delete-elements rx4",
      "delete-elements tx4",
      "delete-elements keys",
      "delete-counter rx_desk",
      "delete-counter tx_desk",
      "add-counter rx_new",
      "add-counter tx_new",
      "add-elements rx4",
      "add-elements tx4",
      "add-elements keys",
    ]);
    expect(ops[5]).toEqual({ op: "add-counter", name: "rx_new", packets: 1, bytes: 2, comment: "iptmon: 02:00:00:00:00:20" });
    expect(() => netlinkOps({ ...change, declare: true }, { table: "iptmon", priority: -1, placement: "forward" })).toThrow(/declare/);
    expect(() => netlinkOps({ ...change, createHosts: [{ ...change.createHosts[0]!, name: 'x"; flush ruleset' }] }, { table: "iptmon", priority: -1, placement: "forward" })).toThrow(/unsafe host name/);
  });

  test("the maps read over netlink describe the hosts as nft's listing does", () => {
    const nf = new NfTables(replaying("reply-elements-rx4.hex", "reply-elements-rx6.hex", "reply-elements-keys.hex", "reply-set-names.hex"));
    const s = readMapsNetlink(nf, { table: "t", priority: -1, placement: "forward" });
    // The kernel dumps a hash map in its own order.
    if ("read" in s && s.read === "layout") s.hosts.sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(s).toEqual({
      read: "layout",
      hosts: [
        { key: "02:00:00:00:00:01", name: "laptop", addresses: ["192.168.1.101", "fd00::1:65"] },
        { key: "02:00:00:00:00:02", name: "phone", addresses: ["192.168.1.102", "2001:db8::a:0:0:1"] },
      ],
    });
  });

  test("a message is what it says: length, type, flags, family, attributes padded to 4", () => {
    const m = nfMessage(nftType(NFT_MSG.GETOBJ), 1, 7, 1, [[A.OBJ_TABLE, "t"]]);
    expect(Buffer.from(m).toString("hex")).toBe("1c000000130a01000700000000000000010000000600010074000000");
  });
});
