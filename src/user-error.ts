// A failure that is not a bug: a command could not do what was asked (a bad argument, a file that
// is not what it should be, a service manager that said no), and the message says why and what to
// do. proxyctl prints it as one line, exit 1, without a stack.
export class UserError extends Error {}
