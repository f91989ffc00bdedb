// Since interception: a tool whose HTTPS to an intercepted origin goes through proxyd is answered
// with proxyd's local CA, and fails unless the roots it reads hold that CA. Each tool's roots are
// where it takes them from (its own setting, else its default), searched for the CA's fingerprint.
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UserSettings } from './gather.js';
import { envProxyIsProxyd, hostOf } from './network-checks.js';
import { isProxyd, parseProxyUrl, type AuditContext } from './proxy-setting.js';
import type { AuditArea, AuditFinding } from './report.js';

/** where Linux distributions keep the system's roots (the first that exists is read: Go's, git's and curl's default) */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];
const FIX = 'proxyctl ca trust-info';

interface Roots {
  /** the files the tool reads, in words */
  from: string;
  files: string[];
  /** PEM text given inline (npm's ca) */
  pem?: string;
}

export function caFindings(ctx: AuditContext, s: UserSettings): AuditFinding[] {
  const ca = ctx.view.ca;
  if (!ca?.cas.length) return [];
  const served = new Set(ca.cas.flatMap((c) => c.serves));
  const trusted = trustCheck(new Set(ca.cas.map((c) => c.fingerprint)));
  const envProxied = envProxyIsProxyd(ctx, s.env);
  const findings: AuditFinding[] = [];
  const judge = (area: AuditArea, host: string, roots: Roots) => {
    const ok = trusted(roots);
    findings.push({
      area, setting: 'trusts proxyd\'s local CA', value: roots.from, status: ok ? 'ok' : 'conflicting',
      why: ok ? `${host} is answered with proxyd's CA, which ${roots.from} holds` : `${host} goes through proxyd, which answers it with its local CA, and ${area} does not trust that CA (it reads ${roots.from})`,
      ...(!ok && { fix: FIX }),
    });
  };
  const systemFile = SYSTEM_BUNDLES.find((f) => existsSync(f));

  if (s.go && envProxied) {
    const host = [...(s.go.GOPROXY ?? '').split(/[,|]/), s.go.GOSUMDB?.split(/\s+/)[1] ?? 'https://sum.golang.org'].map(hostOf).find((h) => served.has(h));
    if (host) {
      const file = s.env.SSL_CERT_FILE || systemFile;
      const dirs = (s.env.SSL_CERT_DIR ?? '').split(':').filter(Boolean);
      judge('go', host, { from: [file, ...dirs].filter(Boolean).join(', ') || 'no roots', files: [...(file ? [file] : []), ...dirs.flatMap(filesIn)] });
    }
  }
  if (s.npm) {
    const str = (k: string) => (typeof s.npm![k] === 'string' ? (s.npm![k] as string) : undefined);
    const host = hostOf(str('registry') ?? 'https://registry.npmjs.org/');
    if (served.has(host) && (viaProxyd(ctx, str('https-proxy') ?? str('proxy')) || envProxied)) {
      const extra = s.env.NODE_EXTRA_CA_CERTS;
      const ca = s.npm.ca;
      const files = [str('cafile'), extra].filter((f): f is string => !!f);
      const pem = typeof ca === 'string' ? ca : Array.isArray(ca) ? ca.join('\n') : undefined;
      judge('npm', host, { from: [...files, ...(pem ? ['npm ca'] : [])].join(', ') || 'Node.js\'s own roots', files, ...(pem && { pem }) });
    }
  }
  if (s.pip) {
    const value = (k: string) => s.pip!.get(`:env:.${k}`) ?? s.pip!.get(`install.${k}`) ?? s.pip!.get(`global.${k}`);
    const index = value('index-url') ?? 'https://pypi.org/simple';
    const host = [hostOf(index), 'files.pythonhosted.org'].find((h) => served.has(h));
    if (host && (viaProxyd(ctx, value('proxy')) || envProxied)) {
      const cert = value('cert');
      judge('pip', host, { from: cert ?? 'its own bundle (certifi)', files: cert ? [cert] : [] });
    }
  }
  if (envProxied && served.size) {
    const file = s.env.CURL_CA_BUNDLE || s.env.SSL_CERT_FILE || systemFile;
    const host = [...served][0]!;
    const ok = trusted({ from: file ?? '', files: file ? [file] : [] });
    findings.push({
      area: 'env', setting: 'HTTPS_PROXY: the system\'s roots', value: file ?? null, status: ok ? 'ok' : 'conflicting',
      why: ok ? 'curl and the tools that read the system\'s roots trust proxyd\'s CA' : `HTTPS_PROXY sends ${[...served].join(', ')} through proxyd, which answers with its local CA, and the system's roots (${file ?? 'none found'}) do not hold it: curl and others fail on ${host}`,
      ...(!ok && { fix: `${FIX} (or proxyctl ca trust --system)` }),
    });
  }
  return findings;
}

function viaProxyd(ctx: AuditContext, value: string | undefined): boolean {
  const url = value ? parseProxyUrl(value) : undefined;
  return !!url && isProxyd(ctx.view, url);
}

/** does any of the roots carry one of these SHA-256 fingerprints; files read once */
function trustCheck(fingerprints: ReadonlySet<string>): (roots: Roots) => boolean {
  const seen = new Map<string, boolean>();
  const holds = (pem: string) => [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].some((m) => {
    try {
      return fingerprints.has(new X509Certificate(m[0]).fingerprint256);
    } catch {
      return false;
    }
  });
  return (roots) => {
    if (roots.pem && holds(roots.pem)) return true;
    return roots.files.some((file) => {
      if (!seen.has(file)) seen.set(file, holds(readOr(file)));
      return seen.get(file)!;
    });
  };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).map((f) => join(dir, f));
  } catch {
    return [];
  }
}
