// The Linux system service's account: a `proxyd` system user and group (the group may use the
// control socket), and the user who ran `sudo` added to it.
import { existsSync } from 'node:fs';
import { findAccount } from './files.js';
import { SERVICE_ACCOUNT } from './layout.js';
import type { Manifest } from './manifest.js';
import type { Run } from './run.js';

function needsAccount(run: Run): boolean {
  return run.layout.platform === 'linux' && run.layout.scope === 'system';
}

/** Creates what is missing (groupadd/useradd --system), idempotent; records what it created. */
export function ensureAccount(run: Run, m: Manifest): void {
  if (!needsAccount(run)) return;
  if (run.root || !run.host.local) {
    run.say(`(the ${SERVICE_ACCOUNT} user and group are not created ${run.root ? 'under --root' : 'for another OS'}: they belong to the machine that runs the service)`);
    return;
  }
  if (!findAccount('group', SERVICE_ACCOUNT)) {
    run.change(['groupadd', '--system', SERVICE_ACCOUNT]);
    if (!run.dryRun) m.createdGroup = true;
  }
  if (!findAccount('passwd', SERVICE_ACCOUNT)) {
    const shell = ['/usr/sbin/nologin', '/sbin/nologin'].find((s) => existsSync(s)) ?? '/bin/false';
    run.change(['useradd', '--system', '--gid', SERVICE_ACCOUNT, '--home-dir', '/var/lib/proxyd', '--no-create-home', '--shell', shell, '--comment', 'proxyd daemon', SERVICE_ACCOUNT]);
    if (!run.dryRun) m.createdUser = true;
  }
  const invoker = run.host.env.SUDO_USER;
  if (invoker && invoker !== 'root' && !findAccount('group', SERVICE_ACCOUNT)?.members.includes(invoker)) {
    run.change(['usermod', '--append', '--groups', SERVICE_ACCOUNT, invoker]);
    if (!run.dryRun && !m.createdGroup && !m.addedToGroup.includes(invoker)) m.addedToGroup.push(invoker);
    run.say(`${invoker} is now in the group ${SERVICE_ACCOUNT}, which may use the control socket: log in again (or run \`newgrp ${SERVICE_ACCOUNT}\`) before \`proxyctl status\` works without sudo`);
  }
}

/** Removes exactly the accounts and memberships install created (after the daemon has stopped). */
export function removeAccount(run: Run, m: Manifest): void {
  if (!needsAccount(run) || run.root || !run.host.local) return;
  if (m.createdUser && findAccount('passwd', SERVICE_ACCOUNT)) run.change(['userdel', SERVICE_ACCOUNT]);
  if (m.createdGroup && findAccount('group', SERVICE_ACCOUNT)) run.change(['groupdel', SERVICE_ACCOUNT]);
  if (m.createdGroup) return;
  for (const user of m.addedToGroup) {
    if (findAccount('group', SERVICE_ACCOUNT)?.members.includes(user)) run.change(['gpasswd', '--delete', user, SERVICE_ACCOUNT]);
  }
}
