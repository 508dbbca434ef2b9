/**
 * Fault injection for crash-recovery tests: when IM_CRASH_AT names this point, the process dies on
 * the spot with SIGKILL (no cleanup, no flush), exactly as if the machine had gone away there.
 * Refused in production so a stray variable cannot take a service down.
 */
export function crashPoint(name: string): void {
  if (process.env.IM_CRASH_AT === name && process.env.NODE_ENV !== 'production') {
    process.kill(process.pid, 'SIGKILL');
  }
}
