import { createServer } from 'node:net';

/** True when nothing listens on ip:port (we could bind it ourselves right now). */
export function isPortFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolvePromise(false);
      else reject(err);
    });
    server.listen({ host: ip, port, exclusive: true }, () => {
      server.close(() => resolvePromise(true));
    });
  });
}

/** A port the OS says is free on ip now (for tests and throwaway servers). */
export function findFreePort(ip = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: ip, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePromise(port) : reject(new Error('no free port found'))));
    });
  });
}
