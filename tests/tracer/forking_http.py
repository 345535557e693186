"""A forking HTTP server (python3 http.server with ForkingMixIn): serves DIR
on 127.0.0.1, writes its port to PORTFILE, handles N requests, waits for its
children and exits. Traced by the tracer tests."""
import http.server
import os
import socketserver
import sys


class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    pass


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    serve_dir, portfile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.chdir(serve_dir)
    srv = Server(('127.0.0.1', 0), Quiet)
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + '.tmp', portfile)
    for _ in range(n):
        srv.handle_request()
    srv.server_close()


if __name__ == '__main__':
    main()
