//! Fan-out load for `bench/chat.sh`: opens one socket per member, sends messages at
//! steady rates over HTTP, and measures when each socket receives each message. Written
//! in Rust so that 1,000 sockets cost the client little: measured with one Python
//! process, the client's own time per delivery (~30 µs) made up most of the latency.
//!
//! cargo run --release --example chat_fanout -- PLAN.json PID > steps.json
//!
//! PLAN: {"base": "http://127.0.0.1:PORT", "sockets": [{"user_id": 1, "token": "…"}],
//!        "plans": {"a": {"rates": [50, 100], "sends": [{"chat_id": 7, "token": "…",
//!        "receivers": 19}]}}, "step_s": 8, "grace_s": 15, "stop_ms": 1000, "tag": "r1",
//!        "conc": 100}
//! Prints {"fanout_connect": {…}, "fanout_a": [step, …], …} with the fields of
//! chat_client.py's steps; PID is the server's, for its CPU time and peak memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Received = Arc<Mutex<Vec<(String, u64, f64)>>>;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

fn percentiles(mut values: Vec<f64>) -> Value {
    if values.is_empty() {
        return json!({"n": 0, "p50_ms": null, "p99_ms": null, "max_ms": null});
    }
    values.sort_by(f64::total_cmp);
    let rank =
        |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    json!({"n": values.len(), "p50_ms": round(rank(0.50)), "p99_ms": round(rank(0.99)),
           "max_ms": round(values[values.len() - 1])})
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Server CPU seconds and VmHWM/VmRSS (KiB) of `pid`.
fn server_usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|line| line.starts_with(key))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks / 100.0, kb("VmHWM:"), kb("VmRSS:"))
}

fn client_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum::<f64>()
        / 100.0
}

/// One member's socket: authenticates, then records every benchmark message it receives
/// from someone else as (key, socket, latency in ms).
async fn socket(
    url: String,
    token: String,
    me: i64,
    index: u64,
    received: Received,
    ready: tokio::sync::mpsc::Sender<bool>,
) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
        let _ = ready.send(false).await;
        return;
    };
    let auth = json!({"type": "auth", "token": token}).to_string();
    if ws.send(Message::text(auth)).await.is_err() {
        let _ = ready.send(false).await;
        return;
    }
    let mut authenticated = false;
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else { continue };
        if !authenticated {
            authenticated = text.contains("\"ready\"");
            let _ = ready.send(authenticated).await;
            if !authenticated {
                return;
            }
            continue;
        }
        let arrived = now_us();
        if !text.contains("\"message.created\"") || !text.contains("fan ") {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let message = &event["message"];
        if message["sender_id"].as_i64() == Some(me) {
            continue;
        }
        let Some(body) = message["text"].as_str() else {
            continue;
        };
        let parts: Vec<&str> = body.split(' ').collect();
        if parts.len() != 4 || parts[0] != "fan" {
            continue;
        }
        let Ok(sent) = parts[3].parse::<u64>() else {
            continue;
        };
        let latency_ms = arrived.saturating_sub(sent) as f64 / 1000.0;
        let key = format!("{} {}", parts[1], parts[2]);
        if let Ok(mut all) = received.lock() {
            all.push((key, index, latency_ms));
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(plan_path), Some(pid)) = (args.get(1), args.get(2).and_then(|p| p.parse().ok()))
    else {
        eprintln!("usage: chat_fanout PLAN.json SERVER_PID");
        std::process::exit(2);
    };
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(plan_path).unwrap_or_default())
        .unwrap_or_else(|err| {
            eprintln!("chat_fanout: bad plan: {err}");
            std::process::exit(2)
        });
    let base = plan["base"].as_str().unwrap_or_default().to_owned();
    let url = base.replacen("http://", "ws://", 1) + "/api/v1/ws";
    let step_s = plan["step_s"].as_f64().unwrap_or(8.0);
    let grace = Duration::from_secs_f64(plan["grace_s"].as_f64().unwrap_or(15.0));
    let stop_ms = plan["stop_ms"].as_f64().unwrap_or(1000.0);
    let run_tag = plan["tag"].as_str().unwrap_or("r").to_owned();
    let conc = plan["conc"].as_u64().unwrap_or(100) as usize;
    let sockets = plan["sockets"].as_array().cloned().unwrap_or_default();
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let mut output = serde_json::Map::new();

    // connect, `conc` at a time
    let (cpu0, _, _) = server_usage(pid);
    let started = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(sockets.len().max(1));
    let mut tasks = Vec::new();
    let mut in_flight = 0;
    let mut ready = 0;
    for (index, member) in sockets.iter().enumerate() {
        if in_flight >= conc && ready_rx.recv().await == Some(true) {
            ready += 1;
            in_flight -= 1;
        }
        tasks.push(tokio::spawn(socket(
            url.clone(),
            member["token"].as_str().unwrap_or_default().to_owned(),
            member["user_id"].as_i64().unwrap_or_default(),
            index as u64,
            received.clone(),
            ready_tx.clone(),
        )));
        in_flight += 1;
    }
    while in_flight > 0 {
        if ready_rx.recv().await == Some(true) {
            ready += 1;
        }
        in_flight -= 1;
    }
    let (cpu1, hwm, rss) = server_usage(pid);
    output.insert(
        "fanout_connect".into(),
        json!({"sockets": sockets.len(), "ready": ready,
               "connect_s": round(started.elapsed().as_secs_f64()),
               "server_cpu_s": round(cpu1 - cpu0), "server_vmhwm_kb": hwm, "server_vmrss_kb": rss}),
    );
    if ready != sockets.len() {
        eprintln!(
            "chat_fanout: only {ready} of {} sockets authenticated",
            sockets.len()
        );
        println!("{}", Value::Object(output));
        std::process::exit(1);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let http = reqwest::Client::new();
    let plans = plan["plans"].as_object().cloned().unwrap_or_default();
    for (which, spec) in plans {
        let sends = spec["sends"].as_array().cloned().unwrap_or_default();
        let mut steps = Vec::new();
        for (step_index, rate) in spec["rates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_f64)
            .enumerate()
        {
            let tag = format!("{which}{run_tag}s{step_index}");
            if let Ok(mut all) = received.lock() {
                all.clear();
            }
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
            let (server0, _, _) = server_usage(pid);
            let client0 = client_cpu();
            let count = ((rate * step_s) as usize).max(1);
            let mut expected = 0;
            let step_start = Instant::now();
            let mut senders = Vec::new();
            for i in 0..count {
                let send = &sends[i % sends.len()];
                expected += send["receivers"].as_u64().unwrap_or(0) as usize;
                let due = step_start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let request = http
                    .post(format!("{base}/api/v1/chats/{}/messages", send["chat_id"]))
                    .bearer_auth(send["token"].as_str().unwrap_or_default())
                    .json(&json!({"text": format!("fan {tag} {i} {}", now_us()),
                                  "client_id": format!("fan-{tag}-{i}")}));
                senders.push(tokio::spawn(async move {
                    let begun = Instant::now();
                    let ok = request
                        .send()
                        .await
                        .is_ok_and(|response| response.status().is_success());
                    (ok, begun.elapsed().as_secs_f64() * 1000.0)
                }));
            }
            let send_wall = step_start.elapsed().as_secs_f64();
            let mut send_latencies = Vec::new();
            let mut send_errors = 0;
            for sender in senders {
                match sender.await {
                    Ok((true, ms)) => send_latencies.push(ms),
                    _ => send_errors += 1,
                }
            }
            let deadline = Instant::now() + grace;
            loop {
                let got = received.lock().map_or(0, |all| all.len());
                if got >= expected || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let all = received.lock().map(|all| all.clone()).unwrap_or_default();
            let mut seen = HashSet::new();
            let mut duplicates = 0;
            let mut latencies = Vec::new();
            for (key, socket, ms) in all {
                if key.starts_with(&format!("{tag} ")) {
                    if seen.insert((key, socket)) {
                        latencies.push(ms);
                    } else {
                        duplicates += 1;
                    }
                }
            }
            let (server1, hwm, rss) = server_usage(pid);
            let delivered = latencies.len();
            let mut step = json!({
                "rate": rate, "messages": count, "send_errors": send_errors,
                "send_wall_s": round(send_wall), "achieved_rate": round(count as f64 / send_wall.max(1e-9)),
                "expected": expected, "delivered": delivered,
                "missed": expected.saturating_sub(delivered), "duplicates": duplicates,
                "deliveries_per_s": round(delivered as f64 / send_wall.max(1e-9)),
                "send": percentiles(send_latencies),
                "wall_s": round(step_start.elapsed().as_secs_f64()),
                "server_cpu_s": round(server1 - server0), "client_cpu_s": round(client_cpu() - client0),
                "server_vmhwm_kb": hwm, "server_vmrss_kb": rss, "hwm_reset": true,
                "closed_sockets": tasks.iter().filter(|task| task.is_finished()).count(),
                "client": "rust",
            });
            if let (Some(step), Value::Object(stats)) =
                (step.as_object_mut(), percentiles(latencies))
            {
                step.extend(stats);
            }
            eprintln!("fanout {which} {rate}/s: {step}");
            let stop = step["missed"].as_u64() != Some(0)
                || send_errors > 0
                || step["p99_ms"].as_f64().unwrap_or(0.0) > stop_ms;
            steps.push(step);
            if stop {
                break;
            }
        }
        output.insert(format!("fanout_{which}"), Value::Array(steps));
    }
    let closed: HashMap<&str, usize> = HashMap::from([(
        "finished",
        tasks.iter().filter(|task| task.is_finished()).count(),
    )]);
    output.insert("fanout_closed".into(), json!(closed));
    for task in tasks {
        task.abort();
    }
    println!("{}", Value::Object(output));
}
