//! WebSockets over real loopback sockets: tungstenite's own blocking client (nobody here wrote
//! it) for the conversations, raw bytes for the handshakes and frames a client should not
//! send. Each refusal is followed by proof that the server still serves others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kairos_web::kairos_http::ServerConfig;
use kairos_web::websocket::{close_code, Message, WebSocket, WebSocketUpgrade};
use kairos_web::{App, Query, Response, TestClient};
use schemars::JsonSchema;
use serde::Deserialize;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;

mod support;
use support::wait_until;

type Client = tungstenite::WebSocket<TcpStream>;

/// Echoes text and binary messages until the client closes.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if message.is_data() && socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// A tungstenite client connected to `path`, offering `protocols`.
fn connect(
    addr: SocketAddr,
    path: &str,
    protocols: &[&str],
) -> (Client, tungstenite::handshake::client::Response) {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.join(", ").parse().unwrap());
    }
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tungstenite::client(request, stream).expect("the handshake")
}

/// Reads until the server's close frame; its code and reason.
fn close_of(client: &mut Client) -> (u16, String) {
    loop {
        match client.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Ok(tungstenite::Message::Close(None)) => return (1005, String::new()),
            Ok(_) => continue,
            Err(error) => panic!("no close frame: {error}"),
        }
    }
}

/// Proof that the server serves: a new socket on `/echo` echoes.
fn still_serves(addr: SocketAddr) {
    let (mut client, _) = connect(addr, "/echo", &[]);
    client.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("still here"));
    client.close(None).unwrap();
}

#[test]
fn text_and_binary_messages_are_echoed() {
    let client = TestClient::new(App::new().get("/echo", echo));
    let (mut socket, response) = connect(client.addr(), "/echo", &[]);
    assert_eq!(response.status(), 101);
    socket.send(tungstenite::Message::text("héllo")).unwrap();
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text("héllo"));
    let binary: Vec<u8> = (0..=255).collect();
    socket.send(tungstenite::Message::binary(binary.clone())).unwrap();
    assert_eq!(socket.read().unwrap(), tungstenite::Message::binary(binary));
    // A message larger than the read buffer (16 KiB) arrives whole.
    let large = "x".repeat(300_000);
    socket.send(tungstenite::Message::text(large.clone())).unwrap();
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text(large));
    // A ping is answered by the server without the session's help.
    socket.send(tungstenite::Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(
        socket.read().unwrap(),
        tungstenite::Message::Pong(b"are you there".to_vec().into())
    );
    socket.close(None).unwrap();
}

/// Raw bytes: the handshake's head for `path`, with `headers` (name, value) changed or left out.
fn handshake(path: &str, change: &[(&str, Option<&str>)]) -> String {
    let mut headers = vec![
        ("Host", "test"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    for (name, value) in change {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    let lines: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    format!("GET {path} HTTP/1.1\r\n{lines}\r\n")
}

/// Reads one HTTP answer's head and its `Content-Length` body: status, head, body.
fn read_answer(reader: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the connection ended: {head}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

#[test]
fn a_bad_handshake_is_answered_in_the_apps_error_shape_and_the_connection_stays_http() {
    let client = TestClient::new(App::new().get("/echo", echo).get("/plain", || async { "plain" }));
    /// Headers changed (`None`: left out), the status, what the detail says, a header the
    /// answer must carry.
    type Case = (
        &'static [(&'static str, Option<&'static str>)],
        u16,
        &'static str,
        Option<(&'static str, &'static str)>,
    );
    let cases: &[Case] = &[
        (&[("Sec-WebSocket-Key", None)], 400, "Sec-WebSocket-Key", None),
        (&[("Sec-WebSocket-Key", Some("c2hvcnQ="))], 400, "16 random bytes", None),
        (
            &[("Sec-WebSocket-Version", Some("8"))],
            426,
            "use 13",
            Some(("sec-websocket-version", "13")),
        ),
        (&[("Connection", Some("keep-alive"))], 400, "upgrade", None),
        (
            &[("Upgrade", None), ("Connection", None)],
            426,
            "WebSocket client",
            Some(("upgrade", "websocket")),
        ),
    ];
    for (i, (change, status, says, header)) in cases.iter().enumerate() {
        let stream = TcpStream::connect(client.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        (&stream).write_all(handshake("/echo", change).as_bytes()).unwrap();
        let (got, head, body) = read_answer(&mut reader);
        assert_eq!(got, *status, "{change:?}: {head}{body}");
        let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(detail["detail"].as_str().unwrap().contains(says), "{change:?}: {body}");
        if let Some((name, value)) = header {
            assert!(head.to_ascii_lowercase().contains(&format!("{name}: {value}")), "{head}");
        }
        if i == 0 {
            // The connection was not taken over: an ordinary request on it is answered.
            (&stream).write_all(b"GET /plain HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
            let (got, _, body) = read_answer(&mut reader);
            assert_eq!((got, body.as_str()), (200, "plain"), "after {change:?}");
        }
    }
    still_serves(client.addr());
}

#[test]
fn frames_sent_with_the_handshake_are_read_after_the_switch() {
    let client = TestClient::new(App::new().get("/echo", echo));
    let mut stream = TcpStream::connect(client.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The head and a first frame in one write: the server must not read the frame as HTTP.
    let mut bytes = handshake("/echo", &[]).into_bytes();
    bytes.extend(frame(0x1, b"early", true, 0));
    stream.write_all(&bytes).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (status, head, _) = read_answer(&mut reader);
    assert_eq!(status, 101, "{head}");
    // RFC 6455 §1.3's example key, and its accept.
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    assert_eq!(read_frame(&mut reader), (0x1, b"early".to_vec()));
}

#[test]
fn the_first_of_the_servers_protocols_that_the_client_offered_is_selected() {
    async fn chat(ws: WebSocketUpgrade) -> Response {
        ws.protocols(["chat.v2", "chat.v1"]).on_upgrade(|mut socket: WebSocket| async move {
            let chosen = socket.selected_protocol().unwrap_or("none").to_owned();
            let _ = socket.send(chosen).await;
        })
    }
    let client = TestClient::new(App::new().get("/chat", chat));
    for (offered, chosen) in
        [(&["chat.v1", "chat.v2"][..], "chat.v2"), (&["chat.v1", "other"][..], "chat.v1")]
    {
        let (mut socket, response) = connect(client.addr(), "/chat", offered);
        assert_eq!(response.headers()["sec-websocket-protocol"], chosen);
        assert_eq!(socket.read().unwrap(), tungstenite::Message::text(chosen));
    }
    // None in common: no protocol named in the 101 (tungstenite's client would refuse that
    // when it offered some, so raw bytes).
    let mut stream = TcpStream::connect(client.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
        .write_all(handshake("/chat", &[("Sec-WebSocket-Protocol", Some("other"))]).as_bytes())
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (status, head, _) = read_answer(&mut reader);
    assert_eq!(status, 101);
    assert!(!head.to_ascii_lowercase().contains("sec-websocket-protocol"), "{head}");
    assert_eq!(read_frame(&mut reader), (0x1, b"none".to_vec()));
}

/// What a session saw, shared with the test.
type Seen = Arc<Mutex<Vec<String>>>;

#[test]
fn a_close_from_the_client_is_answered_with_its_code_and_reason() {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let app = App::new().get("/", move |ws: WebSocketUpgrade| {
        let log = Arc::clone(&log);
        async move {
            ws.on_upgrade(move |mut socket: WebSocket| async move {
                while let Some(message) = socket.recv().await {
                    log.lock().unwrap().push(format!("{message:?}"));
                }
                log.lock().unwrap().push("end".into());
            })
        }
    });
    let client = TestClient::new(app);
    let (mut socket, _) = connect(client.addr(), "/", &[]);
    socket
        .close(Some(tungstenite::protocol::CloseFrame {
            code: CloseCode::from(4001),
            reason: "done here".into(),
        }))
        .unwrap();
    // The reply carries the same code and reason; then the server ends the connection.
    assert_eq!(close_of(&mut socket), (4001, "done here".to_owned()));
    assert!(matches!(socket.read(), Err(tungstenite::Error::ConnectionClosed)));
    assert!(wait_until(Duration::from_secs(10), || seen.lock().unwrap().len() == 2));
    let seen = seen.lock().unwrap();
    assert!(seen[0].contains("Close(Some(CloseFrame { code: 4001"), "{seen:?}");
    assert_eq!(seen[1], "end");
}

#[test]
fn the_session_closes_with_its_code_and_reason_or_1000_when_it_returns() {
    let app = App::new()
        .get("/bye", |ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket: WebSocket| async move {
                socket.send("last words").await.unwrap();
                socket.close(4002, "that is all").await.unwrap();
                // The client's reply, then the end.
                assert!(matches!(socket.recv().await, Some(Ok(Message::Close(_)))));
                assert!(socket.recv().await.is_none());
                assert!(socket.send("too late").await.is_err());
            })
        })
        .get("/return", |ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket: WebSocket| async move {
                let _ = socket.send("and that's it").await;
            })
        });
    let client = TestClient::new(app);
    let (mut socket, _) = connect(client.addr(), "/bye", &[]);
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text("last words"));
    assert_eq!(close_of(&mut socket), (4002, "that is all".to_owned()));
    assert!(matches!(socket.read(), Err(tungstenite::Error::ConnectionClosed)));

    let (mut socket, _) = connect(client.addr(), "/return", &[]);
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text("and that's it"));
    assert_eq!(close_of(&mut socket).0, 1000);
}

/// A session that records how `recv` ended.
fn recording(seen: &Seen, ws: WebSocketUpgrade) -> Response {
    let log = Arc::clone(seen);
    ws.max_message_size(1024).on_upgrade(move |mut socket: WebSocket| async move {
        while let Some(message) = socket.recv().await {
            match message {
                Ok(message) => {
                    let _ = socket.send(message).await;
                }
                Err(error) => {
                    log.lock().unwrap().push(format!("{:?}: {error}", error.close_code()))
                }
            }
        }
    })
}

#[test]
fn a_message_over_the_limit_closes_with_1009_and_others_are_served() {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let app = App::new()
        .get("/echo", echo)
        .get("/small", move |ws: WebSocketUpgrade| std::future::ready(recording(&log, ws)));
    let client = TestClient::new(app);
    let (mut socket, _) = connect(client.addr(), "/small", &[]);
    socket.send(tungstenite::Message::text("x".repeat(1024))).unwrap();
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text("x".repeat(1024)));
    socket.send(tungstenite::Message::binary(vec![0; 1025])).unwrap();
    assert_eq!(close_of(&mut socket), (1009, "message too big".to_owned()));
    assert!(wait_until(Duration::from_secs(10), || !seen.lock().unwrap().is_empty()));
    assert!(seen.lock().unwrap()[0].starts_with("Some(1009): the client sent a message of 1025"));

    // A frame that announces 16 MiB is refused from its header, before it is read.
    let mut stream = open_raw(client.addr(), "/small");
    let mut header = vec![0x82, 0xFF];
    header.extend((16u64 << 20).to_be_bytes());
    header.extend([1, 2, 3, 4]); // the mask; no payload follows
    stream.get_mut().write_all(&header).unwrap();
    assert_eq!(read_frame(&mut stream), (0x8, close_payload(1009, "message too big")));
    still_serves(client.addr());
}

/// A raw connection past a successful handshake on `path`.
fn open_raw(addr: SocketAddr, path: &str) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    (&stream).write_all(handshake(path, &[]).as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, head, _) = read_answer(&mut reader);
    assert_eq!(status, 101, "{head}");
    reader
}

/// A frame: FIN, `rsv` bits (0–7), `opcode`, masked (as a client must) or not.
fn frame(opcode: u8, payload: &[u8], masked: bool, rsv: u8) -> Vec<u8> {
    let mut bytes = vec![0x80 | (rsv << 4) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => bytes.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            bytes.push(mask_bit | 126);
            bytes.extend((len as u16).to_be_bytes());
        }
        len => {
            bytes.push(mask_bit | 127);
            bytes.extend((len as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        bytes.extend(mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        bytes.extend(payload);
    }
    bytes
}

/// Reads one (unmasked, server) frame: its opcode and payload.
fn read_frame(reader: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            reader.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            reader.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    assert_eq!(head[1] & 0x80, 0, "a server's frame is not masked");
    let mut payload = vec![0; len];
    reader.read_exact(&mut payload).unwrap();
    (head[0] & 0x0F, payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason.as_bytes());
    payload
}

/// Whether the server has ended the connection: reads to the end.
fn ends(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).is_ok()
}

#[test]
fn a_malformed_frame_closes_with_1002_bad_utf8_with_1007_and_others_are_served() {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let app = App::new()
        .get("/echo", echo)
        .get("/small", move |ws: WebSocketUpgrade| std::future::ready(recording(&log, ws)));
    let client = TestClient::new(app);
    let cases: &[(&str, Vec<u8>, u16, &str)] = &[
        ("an unmasked client frame", frame(0x1, b"hi", false, 0), 1002, "protocol error"),
        ("reserved bits set", frame(0x1, b"hi", true, 0b100), 1002, "protocol error"),
        ("an unknown opcode", frame(0x3, b"hi", true, 0), 1002, "protocol error"),
        ("text that is not UTF-8", frame(0x1, &[0xff, 0xfe], true, 0), 1007, "invalid UTF-8"),
    ];
    for (what, bytes, code, reason) in cases {
        let mut reader = open_raw(client.addr(), "/small");
        reader.get_mut().write_all(bytes).unwrap();
        assert_eq!(read_frame(&mut reader), (0x8, close_payload(*code, reason)), "{what}");
        assert!(ends(&mut reader), "{what}: the server ends the connection");
        still_serves(client.addr());
    }
    assert!(wait_until(Duration::from_secs(10), || seen.lock().unwrap().len() == 4));
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("Some(1002): the client broke the WebSocket protocol"), "{seen:?}");
    assert!(seen[3].starts_with("Some(1007)"), "{seen:?}");
}

#[test]
fn a_session_that_panics_closes_with_1011_and_the_worker_serves_on() {
    let app = App::new().get("/echo", echo).get("/panic", |ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|mut socket: WebSocket| async move {
            let _ = socket.recv().await;
            panic!("the session broke");
        })
    });
    let client = TestClient::new(app);
    for _ in 0..3 {
        let (mut socket, _) = connect(client.addr(), "/panic", &[]);
        socket.send(tungstenite::Message::text("boom")).unwrap();
        assert_eq!(close_of(&mut socket), (1011, "internal error".to_owned()));
        still_serves(client.addr());
    }
}

#[test]
fn send_waits_while_the_client_does_not_read() {
    const MESSAGE: usize = 64 * 1024;
    let sent = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(AtomicBool::new(false));
    let (counter, flag) = (Arc::clone(&sent), Arc::clone(&waiting));
    let app = App::new().get("/flood", move |ws: WebSocketUpgrade| {
        let (sent, waiting) = (Arc::clone(&counter), Arc::clone(&flag));
        async move {
            ws.on_upgrade(move |mut socket: WebSocket| async move {
                let message = Message::binary(vec![7u8; MESSAGE]);
                loop {
                    waiting.store(true, Ordering::SeqCst);
                    let done = socket.send(message.clone()).await;
                    waiting.store(false, Ordering::SeqCst);
                    if done.is_err() {
                        break;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        }
    });
    let client = TestClient::new(app);
    let (mut socket, _) = connect(client.addr(), "/flood", &[]);
    // The client reads nothing. The server's sends fill the kernel's buffers, then wait: the
    // count stops growing, with the session inside `send`.
    let settled = wait_until(Duration::from_secs(60), || {
        let before = sent.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        let after = sent.load(Ordering::SeqCst);
        after == before && after > 0 && waiting.load(Ordering::SeqCst)
    });
    let plateau = sent.load(Ordering::SeqCst);
    assert!(settled, "the sends never stopped: {plateau} messages");
    // What is in flight is what the loopback's socket buffers hold (a few MB), not a queue
    // that grows with time.
    let bytes = plateau * MESSAGE;
    assert!(bytes < 64 << 20, "{bytes} bytes were accepted from a client that reads nothing");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sent.load(Ordering::SeqCst), plateau, "a send completed while nobody read");
    eprintln!("backpressure: {plateau} messages of 64 KiB ({bytes} bytes) sent before send waited");

    // Once the client reads, the session goes on.
    for _ in 0..plateau + 10 {
        assert!(socket.read().unwrap().is_binary());
    }
    assert!(sent.load(Ordering::SeqCst) > plateau);
}

#[test]
fn a_graceful_shutdown_closes_open_sockets_with_1001_and_drops_their_sessions() {
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&drops);
    let app = App::new().get("/", move |ws: WebSocketUpgrade| {
        let counted = Arc::clone(&counted);
        async move {
            ws.on_upgrade(move |mut socket: WebSocket| async move {
                let _guard = Dropped(counted);
                while let Some(Ok(message)) = socket.recv().await {
                    let _ = socket.send(message).await;
                }
            })
        }
    });
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    let running = app
        .serve(ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            workers: 1,
            access_log: false,
            graceful_shutdown_timeout: Duration::from_secs(30),
            ..ServerConfig::default()
        })
        .unwrap();
    let sockets: Vec<Client> = (0..3)
        .map(|_| {
            let (mut socket, _) = connect(running.local_addr(), "/", &[]);
            socket.send(tungstenite::Message::text("open")).unwrap();
            assert_eq!(socket.read().unwrap(), tungstenite::Message::text("open"));
            socket
        })
        .collect();
    running.shutdown();
    let closes: Vec<(u16, String)> = sockets
        .into_iter()
        .map(|mut socket| {
            let close = close_of(&mut socket);
            // tungstenite replied when it read the close; the server then ends the connection.
            assert!(matches!(socket.read(), Err(tungstenite::Error::ConnectionClosed)));
            close
        })
        .collect();
    assert!(
        closes.iter().all(|close| *close == (1001, "server shutting down".to_owned())),
        "{closes:?}"
    );
    // The sockets were the connections the drain waited for: it ends well within its 30 s.
    running.wait();
    assert_eq!(drops.load(Ordering::SeqCst), 3, "each session was dropped where it waited");
}

#[derive(Deserialize, JsonSchema)]
struct Count {
    #[schemars(range(min = 1, max = 10))]
    n: u32,
}

#[test]
fn the_query_is_validated_before_the_upgrade_and_websocket_routes_are_not_in_the_openapi_document()
{
    async fn count(ws: WebSocketUpgrade, Query(Count { n }): Query<Count>) -> Response {
        ws.on_upgrade(move |mut socket: WebSocket| async move {
            for i in 0..n {
                let _ = socket.send(i.to_string()).await;
            }
            let _ = socket.close(close_code::NORMAL, "counted").await;
        })
    }
    let app = App::new().get("/count", count).get("/plain", || async { "plain" });
    let document = app.openapi();
    assert!(document["paths"].get("/count").is_none(), "{document:#}");
    assert!(document["paths"].get("/plain").is_some());

    let client = TestClient::new(app);
    let stream = TcpStream::connect(client.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    (&stream).write_all(handshake("/count?n=11", &[]).as_bytes()).unwrap();
    let (status, _, body) = read_answer(&mut BufReader::new(stream));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("less_than_equal"), "{body}");

    let (mut socket, _) = connect(client.addr(), "/count?n=3", &[]);
    for i in 0..3 {
        assert_eq!(socket.read().unwrap(), tungstenite::Message::text(i.to_string()));
    }
    assert_eq!(close_of(&mut socket), (1000, "counted".to_owned()));
}
