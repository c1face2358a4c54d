/**
 * A netlink socket that answers each request with datagrams the kernel sent
 * (test/fixtures/rtnetlink, made by its capture.ts), their sequence numbers
 * set to the request's, as the kernel would have.
 */
import { readFileSync } from "node:fs";
import { parseMessages } from "../../src/netlink/message.ts";
import { EAGAIN, NetlinkError, type NetlinkSocket } from "../../src/netlink/socket.ts";

const DIR = `${import.meta.dir}/../fixtures/rtnetlink`;

/** A fixture's datagrams (one hex line each). */
export function replies(name: string): Uint8Array[] {
  return readFileSync(`${DIR}/reply-${name}.hex`, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => Uint8Array.from(Buffer.from(l, "hex")));
}

/** `answer` gives the datagrams for a request's bytes, or "timeout" for none within the socket's time limit. */
export function replaySocket(answer: (request: Uint8Array) => Uint8Array[] | "timeout"): NetlinkSocket & { sent: Uint8Array[] } {
  const queue: Uint8Array[] = [];
  const sent: Uint8Array[] = [];
  let timeout = false;
  return {
    portId: 1234,
    sent,
    send(data) {
      sent.push(data);
      const seq = new DataView(data.buffer, data.byteOffset).getUint32(8, true);
      const a = answer(data);
      timeout = a === "timeout";
      if (a === "timeout") return;
      for (const d of a) {
        const copy = Uint8Array.from(d);
        const view = new DataView(copy.buffer);
        let p = 0;
        for (const m of parseMessages(copy)) {
          view.setUint32(p + 8, seq, true);
          p += (m.body.length + 16 + 3) & ~3;
        }
        queue.push(copy);
      }
    },
    recv() {
      const d = queue.shift();
      if (d) return d;
      if (timeout) throw new NetlinkError("no answer from rtnetlink in 5000 ms", EAGAIN);
      throw new Error("recv with nothing to answer");
    },
    close() {},
  };
}

/** The request's message type (RTM_*). */
export const requestType = (request: Uint8Array) => new DataView(request.buffer, request.byteOffset).getUint16(4, true);
