/**
 * Runs async operations one at a time, in call order. Used where an underlying library corrupts
 * its output or shares a read buffer when calls overlap (McapWriter, our ROS 1 writer, rosbag's
 * Reader). A failed operation does not block the ones queued after it.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T> | T): Promise<T> {
    const next = this.#tail.then(op, op);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
