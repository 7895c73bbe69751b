/** piscina task: run this thread's logical clients. The task's port carries the main-thread protocol. */
import type { MessagePort } from 'node:worker_threads';
import { runClients, type ClientResult, type ClientTask } from './client.ts';

export interface WorkerTask {
  task: ClientTask;
  port: MessagePort;
}

export default async function clientWorker({ task, port }: WorkerTask): Promise<ClientResult> {
  try {
    return await runClients(task, port);
  } finally {
    port.close();
  }
}
