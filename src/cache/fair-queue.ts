/**
 * Work nobody waits for, in lanes served round robin, `concurrency` tasks at a time: a lane with a long
 * backlog (one scope's details, one consumer's) takes one turn in each round, so it never starves the
 * others. Bounded: at most `capacity` tasks wait, and a key waits or runs once; a task past the bound is
 * dropped (its work is asked for again by the next request that needs it).
 */
export class FairQueue {
  /** Lanes in turn order: the next task comes from the first, which then moves to the end. */
  readonly #lanes = new Map<string, Array<{ key: string; run: () => Promise<void> }>>();
  /** Keys waiting or running. */
  readonly #keys = new Set<string>();
  #waiting = 0;
  #running = 0;
  #idle: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
  ) {}

  /** Queues `run` under `key` in `lane`; false when the key is already queued or running, or the queue is full. */
  add(lane: string, key: string, run: () => Promise<void>): boolean {
    if (this.#keys.has(key) || this.#waiting >= this.capacity) return false;
    this.#keys.add(key);
    const tasks = this.#lanes.get(lane);
    if (tasks) tasks.push({ key, run });
    else this.#lanes.set(lane, [{ key, run }]);
    this.#waiting++;
    this.#pump();
    return true;
  }

  /** True while `key` waits or runs. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Resolves once nothing waits or runs. */
  settle(): Promise<void> {
    if (this.#running === 0 && this.#waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#running < this.concurrency && this.#waiting > 0) {
      const [lane, tasks] = this.#lanes.entries().next().value!;
      const task = tasks.shift()!;
      this.#lanes.delete(lane);
      if (tasks.length) this.#lanes.set(lane, tasks);
      this.#waiting--;
      this.#running++;
      void task
        .run()
        .catch(() => undefined)
        .finally(() => {
          this.#running--;
          this.#keys.delete(task.key);
          this.#pump();
          if (this.#running === 0 && this.#waiting === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}
