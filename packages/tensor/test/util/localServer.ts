// An HTTP server on 127.0.0.1 for the download tests: started on a port (0: any free one), and
// stopped with its keep-alive connections, so the port can be taken again (a server going away).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `server` on 127.0.0.1 at `port` (0: any free one); resolves to its base URL. */
export async function listenLocal(server: Server, port = 0): Promise<string> {
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Stops `server`, its open connections included. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
}
