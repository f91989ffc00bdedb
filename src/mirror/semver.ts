// Semantic version order, as Go modules and npm use it: vMAJOR.MINOR.PATCH[-pre][+build], a
// release above its prereleases, numeric prerelease fields below alphanumeric ones.

const SEMVER = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function isSemver(v: string): boolean {
  return SEMVER.test(v);
}

/** negative, zero or positive as a is below, equal to or above b; versions that do not parse sort lowest, by text */
export function compareSemver(a: string, b: string): number {
  const x = a.match(SEMVER);
  const y = b.match(SEMVER);
  if (!x || !y) return x ? 1 : y ? -1 : a.localeCompare(b);
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d) return d;
  }
  const [pa, pb] = [x[4], y[4]];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const fa = pa.split('.');
  const fb = pb.split('.');
  for (let i = 0; i < Math.max(fa.length, fb.length); i++) {
    const [s, t] = [fa[i], fb[i]];
    if (s === undefined || t === undefined) return s === undefined ? -1 : 1;
    const [ns, nt] = [/^\d+$/.test(s), /^\d+$/.test(t)];
    if (ns && nt) {
      const d = Number(s) - Number(t);
      if (d) return d;
    } else if (ns !== nt) return ns ? -1 : 1;
    else if (s !== t) return s < t ? -1 : 1;
  }
  return 0;
}
