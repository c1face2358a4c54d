/** The dnsmasq config OpenWrt generates (/var/etc/dnsmasq.conf.<instance>). */

export interface DnsmasqConf {
  /** dhcp-leasefile (the last one, as dnsmasq keeps). */
  leasefile: string | null;
  /** Every addn-hosts, in order; each may be a file or a directory. */
  addnHosts: string[];
  /** The domain of the first `domain=` without an address range (else of the first). */
  domain: string | null;
}

const ESCAPES: Record<string, string> = { "\\": "\\", '"': '"', t: "\t", e: "\x1b", b: "\b", r: "\r", n: "\n" };

/**
 * One line the way dnsmasq 2.90 reads it (checked against the daemon): `#`
 * starts a comment only at the start or after whitespace (`/tmp/h#3` is a
 * file name), `;` and backslashes outside quotes are literal, and `"` quotes
 * may sit anywhere in a value; inside them `#` is literal and \\ \" \t \e \b \r
 * \n are escapes. Returns [key, value], value null for a bare flag.
 */
function readLine(line: string): [string, string | null] | null {
  let out = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') quoted = false;
      else if (c === "\\" && i + 1 < line.length && ESCAPES[line[i + 1]!] !== undefined) out += ESCAPES[line[++i]!];
      else out += c;
    } else if (c === '"') {
      quoted = true;
    } else if (c === "#" && (i === 0 || /[\t\v\f\r ]/.test(line[i - 1]!))) {
      break;
    } else {
      out += c;
    }
  }
  const eq = out.indexOf("=");
  const key = (eq < 0 ? out : out.slice(0, eq)).trim();
  if (key === "") return null;
  return [key, eq < 0 ? null : out.slice(eq + 1).trim()];
}

/**
 * Reads the settings iptmon needs. Not with `ini`: ini treats `;` and any `#`
 * as comments, `[x]` as a section and "true" as a boolean, and keeps one value
 * per key, none of which is what dnsmasq does. Included files (conf-file,
 * conf-dir) are not followed.
 */
export function parseDnsmasqConf(text: string): DnsmasqConf {
  const conf: DnsmasqConf = { leasefile: null, addnHosts: [], domain: null };
  let domainHasRange = true;
  for (const raw of text.split("\n")) {
    const kv = readLine(raw);
    if (!kv || kv[1] === null || kv[1] === "") continue;
    const [key, value] = kv;
    switch (key) {
      case "dhcp-leasefile":
        conf.leasefile = value;
        break;
      case "addn-hosts":
        conf.addnHosts.push(value);
        break;
      case "domain": {
        const [name, ...range] = value.split(",");
        if (conf.domain === null || (domainHasRange && range.length === 0)) {
          conf.domain = name!.trim() || null;
          domainHasRange = range.length > 0;
        }
        break;
      }
    }
  }
  return conf;
}
