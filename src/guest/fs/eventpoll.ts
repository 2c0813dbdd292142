/**
 * An epoll instance (fs/eventpoll.c, struct eventpoll) as a reader application uses one over its
 * sockets, level-triggered: the ready list (rdllist) instead of trying every socket per wake-up.
 *
 * - ep_poll_callback, on a socket's sk_data_ready: the socket's epitem goes to the tail of rdllist
 *   unless it is already on it (ep_is_linked), and the waiters on ep->wq are woken.
 * - ep_poll / ep_send_events_proc: the application takes items from the head (list_del_init); for a
 *   level-triggered item (no EPOLLET) the kernel puts it back at the tail of rdllist, and the next
 *   ep_send_events drops it there if ->poll() finds nothing readable. The model asks "readable?" when
 *   the application is done with the socket rather than at the next scan: the same sockets are
 *   reported, without visiting drained ones again.
 *
 * The order this gives is round-robin over the readable sockets: a socket drained leaves the list, a
 * socket with data left goes behind every socket that became readable before it. Each operation is
 * O(1), whatever the number of sockets registered.
 *
 * Items are the sockets' indices in registration order (epoll_ctl(EPOLL_CTL_ADD)); the list is a ring
 * in a typed array, as each item is on it at most once.
 */
import { grown } from "../../sim/typed.ts";
import { type Kernel, WaitQueue } from "../sched/kernel.ts";

export class EventPoll {
  /** ep->wq: the threads in epoll_wait. */
  readonly wq: WaitQueue;
  /** Items taken off the ready list (each one a socket the application visits). */
  taken = 0;
  /** rdllist as a ring of item indices: head position and length. */
  private rdl = new Int32Array(4);
  private head = 0;
  private len = 0;
  /** ep_is_linked(&epi->rdllink), per item. */
  private linked = new Uint8Array(4);
  private items = 0;

  constructor(
    private readonly k: Kernel,
    name: string,
  ) {
    this.wq = new WaitQueue(`${name}.ep_wq`);
  }

  /** epoll_ctl(EPOLL_CTL_ADD) of a socket with nothing readable yet: returns its item index. */
  add(): number {
    const cap = this.rdl.length;
    if (this.items === cap) {
      // The ring unrolled into a twice larger one, head at 0.
      const rdl = new Int32Array(cap * 2);
      for (let i = 0; i < this.len; i++) rdl[i] = this.rdl[(this.head + i) % cap]!;
      this.rdl = rdl;
      this.head = 0;
      this.linked = grown(this.linked, cap * 2);
    }
    return this.items++;
  }

  /** Items registered. */
  get size(): number {
    return this.items;
  }

  /** Items on the ready list now. */
  get ready(): number {
    return this.len;
  }

  /** ep_poll_callback: item became readable. */
  callback(item: number): void {
    this.link(item);
    this.k.wakeAll(this.wq);
  }

  /** The head of the ready list, taken off it; -1 when the list is empty (epoll_wait would sleep). */
  take(): number {
    if (this.len === 0) return -1;
    const item = this.rdl[this.head]!;
    this.head = this.head + 1 === this.rdl.length ? 0 : this.head + 1;
    this.len--;
    this.linked[item] = 0;
    this.taken++;
    return item;
  }

  /**
   * The application is done with a taken item: level-triggered, it goes back to the tail while it
   * still has data (ep_send_events_proc's list_add_tail for !EPOLLET).
   */
  done(item: number, stillReadable: boolean): void {
    if (stillReadable) this.link(item);
  }

  private link(item: number): void {
    if (this.linked[item] !== 0) return;
    this.linked[item] = 1;
    const cap = this.rdl.length;
    const at = this.head + this.len;
    this.rdl[at < cap ? at : at - cap] = item;
    this.len++;
  }
}
