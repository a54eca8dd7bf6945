using System.Diagnostics;
using System.Text;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// A node's application, in its own Python process: an <c>http.server</c> app that inserts <c>POST /rows</c> bodies
/// into table t of its node's database (read-write on the primary) and answers <c>GET /rows/{id}</c> from it
/// (read-only on replicas, as the guide opens them); <c>GET /ws</c> is a WebSocket that echoes each text message
/// prefixed with the node's name; <c>GET /events</c> streams two server-sent events a second apart; <c>/static/*</c> answers without touching the database. Every answer names the node
/// in <c>X-App-Node</c>, so a test sees where a request was served.
/// </summary>
public sealed class ProxyTestApp : IDisposable
{
    private const string Script = """
        import base64, hashlib, json, sqlite3, struct, sys, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, db_path, node, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

        def connect():
            if mode == "rw":
                db = sqlite3.connect(db_path, isolation_level=None, timeout=10)
                db.execute("PRAGMA busy_timeout = 5000")
                return db
            return sqlite3.connect("file:" + db_path + "?mode=ro", uri=True, isolation_level=None)

        class App(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, code, body, content_type="application/json"):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-App-Node", node)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_POST(self):
                text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path != "/rows":
                    return self.answer(404, json.dumps({"error": "no route", "node": node}))
                try:
                    db = connect()
                    rowid = db.execute("INSERT INTO t(v) VALUES (?)", (text,)).lastrowid
                    db.close()
                except sqlite3.Error as e:
                    return self.answer(500, json.dumps({"error": str(e), "node": node}))
                self.answer(201, json.dumps({"id": rowid, "node": node}))

            def do_GET(self):
                if self.path == "/ws":
                    return self.websocket()
                if self.path == "/events":
                    return self.events()
                if self.path.startswith("/static/"):
                    return self.answer(200, "static from " + node, "text/plain")
                if self.path.startswith("/rows/"):
                    db = connect()
                    row = db.execute("SELECT v FROM t WHERE id = ?", (int(self.path[6:]),)).fetchone()
                    db.close()
                    if row is None:
                        return self.answer(404, json.dumps({"error": "no row", "node": node}))
                    return self.answer(200, json.dumps({"v": row[0], "node": node}))
                self.answer(404, json.dumps({"error": "no route", "node": node}))

            def do_HEAD(self):
                self.do_GET()

            def events(self):
                # Server-sent events: one now, one a second later, then the end of the stream.
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for n in range(2):
                    if n:
                        time.sleep(1)
                    self.wfile.write(("data: %s event %d\n\n" % (node, n)).encode())
                    self.wfile.flush()

            def websocket(self):
                # RFC 6455's handshake, then unfragmented frames: enough for an echo.
                self.close_connection = True
                key = self.headers["Sec-WebSocket-Key"]
                accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                while True:
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        return
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    if length == 126:
                        length = struct.unpack(">H", self.rfile.read(2))[0]
                    elif length == 127:
                        length = struct.unpack(">Q", self.rfile.read(8))[0]
                    mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                    if opcode == 8:
                        self.wfile.write(b"\x88\x00")
                        return
                    reply = (node + ": ").encode() + payload
                    size = bytes([len(reply)]) if len(reply) < 126 else bytes([126]) + struct.pack(">H", len(reply))
                    self.wfile.write(bytes([0x81]) + size + reply)

        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(("127.0.0.1", port), App)
        print("listening", flush=True)
        server.serve_forever()
        """;

    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    public ProxyTestApp(string directory, int port, string db, string node, bool writable)
    {
        var script = Path.Combine(directory, "app.py");
        File.WriteAllText(script, Script);
        Port = port;
        _process = Process.Start(new ProcessStartInfo("python3", [script, port.ToString(), db, node, writable ? "rw" : "ro"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        _process.ErrorDataReceived += (_, e) => { lock (_errors) _errors.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        if (_process.StandardOutput.ReadLine() != "listening") throw new InvalidOperationException($"the app did not start: {Errors}");
    }

    public int Port { get; }

    public string Errors
    {
        get { lock (_errors) return _errors.ToString(); }
    }

    /// <summary>Stops the application (its node's proxy then has nothing to forward to).</summary>
    public void Stop()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
