// Starts the origins: origin-server.ts in its own Node process, and nginx (C, one
// worker) as the plain-HTTP origin when it is installed, else the Node one.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, findBinary, freePort, waitForPort } from './proc.ts';

export interface Origins {
  source: number;
  echo: number;
  hold: number;
  /** plain-HTTP origin for the forwarding row */
  http: number;
  httpKind: string;
  /** the origin processes (the round-trip row pins them to one core) */
  pids: number[];
}

export async function startOrigins(tmp: string, repoRoot: string): Promise<Origins> {
  const script = fileURLToPath(new URL('./origin-server.ts', import.meta.url));
  const node = new Daemon('origin', process.execPath, ['--import', 'tsx', script], repoRoot);
  const ports = JSON.parse((await node.waitFor(/^\{.*\}$/m))[0]);
  const nginx = findBinary('nginx');
  if (!nginx) return { ...ports, httpKind: 'Node http (nginx not installed)', pids: [node.pid] };

  const dir = join(tmp, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const t = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  server { listen 127.0.0.1:${port} backlog=4096; location / { return 200 "hello\\n"; } }
}
`);
  const d = new Daemon('nginx', nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]);
  await waitForPort(port, d);
  return { ...ports, http: port, httpKind: 'nginx, 1 worker', pids: [node.pid, d.pid] };
}
