// The block `proxyctl setup ssh` puts at the top of ~/.ssh/config (ssh takes the first value it
// reads for each option, so it must come before any `Host *`): github.com through proxyd, and
// through GitHub's ssh endpoint on port 443 when port 22 is filtered on the way.
export const BLOCK_START = '# >>> proxyd: added by proxyctl setup ssh (proxyctl setup ssh --undo removes it) >>>';
export const BLOCK_END = '# <<< proxyd <<<';

/** GitHub's ssh server on the HTTPS port, for networks that filter port 22 (docs.github.com: "Using SSH over the HTTPS port") */
export const GITHUB_SSH_443 = { host: 'ssh.github.com', port: 443 };

export interface SshPlan {
  /** the ProxyCommand line: proxyctl … connect %h %p */
  proxyCommand: string;
  /** port 22 is filtered on every route: connect to ssh.github.com:443 instead */
  via443: boolean;
}

function sshBlock(plan: SshPlan): string {
  return [
    BLOCK_START,
    'Host github.com',
    `    ProxyCommand ${plan.proxyCommand}`,
    ...(plan.via443 ? [`    Hostname ${GITHUB_SSH_443.host}`, `    Port ${GITHUB_SSH_443.port}`] : []),
    BLOCK_END,
    '',
  ].join('\n');
}

/** the file with our block first (a block from an earlier setup replaced) */
export function withBlock(text: string, plan: SshPlan): string {
  const rest = withoutBlock(text);
  return `${sshBlock(plan)}${rest.length ? '\n' : ''}${rest}`;
}

/** the file without our block (and the blank line that set it apart) */
export function withoutBlock(text: string): string {
  const start = text.indexOf(BLOCK_START);
  if (start < 0) return text;
  const endAt = text.indexOf(BLOCK_END, start);
  if (endAt < 0) return text;
  let end = endAt + BLOCK_END.length;
  if (text[end] === '\n') end++;
  if (start === 0 && text[end] === '\n') end++;
  return text.slice(0, start) + text.slice(end);
}
