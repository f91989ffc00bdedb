// The settings audit as a document: one finding per setting of the user's tools that decides
// whether their traffic reaches proxyd. `proxyctl doctor` prints it after the daemon's report,
// and its --json carries it as its own section (checked against this schema like the others).
import { z } from 'zod';

const AUDIT_AREAS = ['env', 'git', 'ssh', 'go', 'npm', 'pip'] as const;
export type AuditArea = (typeof AUDIT_AREAS)[number];

/** ok: it sends the tool through proxyd as the rules want; missing: not set, so the tool goes around proxyd; conflicting: set, but wrong */
const AUDIT_STATUSES = ['ok', 'missing', 'conflicting'] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];

export const AuditFinding = z.object({
  area: z.enum(AUDIT_AREAS),
  setting: z.string(),
  /** as set (a password in a URL masked); null when unset */
  value: z.string().nullable(),
  /** where it is set: a file, or `environment` */
  source: z.string().optional(),
  status: z.enum(AUDIT_STATUSES),
  why: z.string(),
  /** the command or change that fixes it */
  fix: z.string().optional(),
});
export type AuditFinding = z.infer<typeof AuditFinding>;

export const SettingsAudit = z.object({
  /** the user whose settings these are */
  user: z.string(),
  findings: z.array(AuditFinding),
  /** tools not audited, and why ("npm: not installed") */
  skipped: z.array(z.string()),
});
export type SettingsAudit = z.infer<typeof SettingsAudit>;
