// Preloaded (`node --require`) into every service a test starts. The test runner holds the write end
// of this process's stdin; when the runner ends — passed, failed or killed — the pipe closes and the
// service shuts down gracefully (forcefully after 10 s), so no service outlives the run that started it.
process.stdin.on('error', () => undefined);
process.stdin.on('end', () => {
  setTimeout(() => process.exit(1), 10_000);
  process.kill(process.pid, 'SIGTERM');
});
process.stdin.resume();
process.stdin.unref?.();
