import { RateLimiter } from './rate-limit';

describe('RateLimiter (token bucket)', () => {
  const clock = () => {
    const c = { t: 0, now: () => c.t };
    return c;
  };

  it('lets a burst through, then refuses until tokens refill at the sustained rate', () => {
    const c = clock();
    const limiter = new RateLimiter(2, 3, c.now);
    expect([1, 2, 3, 4].map(() => limiter.tryTake('a'))).toEqual([true, true, true, false]);
    c.t += 500; // half a second at 2/s: one token
    expect(limiter.tryTake('a')).toBe(true);
    expect(limiter.tryTake('a')).toBe(false);
  });

  it('keeps one bucket per client', () => {
    const c = clock();
    const limiter = new RateLimiter(1, 1, c.now);
    expect(limiter.tryTake('a')).toBe(true);
    expect(limiter.tryTake('a')).toBe(false);
    expect(limiter.tryTake('b')).toBe(true);
  });

  it('never stores more than the burst', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 2, c.now);
    c.t += 60_000;
    expect([1, 2, 3].map(() => limiter.tryTake('a'))).toEqual([true, true, false]);
  });

  it('forgets clients whose bucket is full again', () => {
    const c = clock();
    const limiter = new RateLimiter(1, 1, c.now);
    for (let i = 0; i < 100; i++) limiter.tryTake(`client-${i}`);
    expect(limiter.size).toBe(100);
    c.t += 5_000;
    limiter.tryTake('late');
    expect(limiter.size).toBe(1);
  });
});
