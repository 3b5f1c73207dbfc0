//! The room log's append path alone, without the network in front of it:
//! appends BATCHES batches of BATCH plain messages (100-byte bodies, no
//! client id, spread over ROOMS rooms, like a group commit of scenario 5)
//! through the store's `append_batch`, one batch after the other, and
//! prints messages per second and this process's CPU per message (utime +
//! stime from /proc). Every message must come back stored, with the seqs
//! its room was due.
//!
//!     cargo run --release --example append_ingest -- "$DATABASE_URL" [BATCHES] [BATCH] [ROOMS]
//!
//! Its instruction count per message (BENCHMARKS.md, "Ingest: where a
//! durable message's CPU goes") is the difference of two runs under
//! `valgrind --tool=callgrind` that differ only in BATCHES, divided by the
//! difference in messages: the set-up (connecting, the migrations' check,
//! the user and the rooms) cancels out.

use std::collections::HashMap;
use std::time::Instant;

use parley::domain::{RoomName, Username};
use parley::store::{Appended, LogWrite, NewEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: append_ingest DATABASE_URL [BATCHES] [BATCH] [ROOMS]";
    let url = args.next().ok_or(usage)?;
    let mut number = |default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.next().map_or(Ok(default), |a| a.parse())?)
    };
    let (batches, batch_size, rooms) = (number(100)?, number(100)?, number(200)?);
    if batch_size == 0 || rooms == 0 {
        return Err(usage.into());
    }

    let store = parley::store::connect(&url, 4).await?;
    // Names of this run's own: a database may hold earlier runs' rooms.
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let sender = store
        .create_user(
            &Username::parse(&format!("ingest-{run}"))?,
            "not-a-password-hash",
        )
        .await?;
    let mut room_ids = Vec::with_capacity(rooms);
    for i in 0..rooms {
        let name = RoomName::parse(&format!("ingest-{run}-{i}"))?;
        let room = store.create_room(&name, false, sender.id).await?;
        room_ids.push((room.id, room.name));
    }

    let mut expected: HashMap<i64, i64> = HashMap::new();
    let cpu_before = process_cpu_seconds()?;
    let started = Instant::now();
    let mut counter = 0usize;
    for _ in 0..batches {
        let batch: Vec<NewEvent> = (0..batch_size)
            .map(|_| {
                let (room_id, room) = &room_ids[counter % rooms];
                counter += 1;
                let mut body = format!("{}:0:{counter}:", started.elapsed().as_nanos());
                while body.len() < 100 {
                    body.push('x');
                }
                NewEvent {
                    room_id: *room_id,
                    room: room.clone(),
                    sender_id: sender.id,
                    sender: sender.username.clone(),
                    change: LogWrite::Message {
                        body,
                        client_id: None,
                        reply_to: None,
                        attachments: Vec::new(),
                    },
                    tied_to_next: false,
                    moderates: false,
                }
            })
            .collect();
        for (event, appended) in batch.iter().zip(store.append_batch(&batch).await?) {
            let seq = expected.entry(event.room_id).or_insert(0);
            *seq += 1;
            match appended {
                Appended::Stored(stored) if stored.seq == *seq => {}
                other => return Err(format!("expected seq {seq}, got {other:?}").into()),
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()? - cpu_before;
    let messages = batches * batch_size;
    println!(
        "{{\"batches\":{batches},\"batch\":{batch_size},\"rooms\":{rooms},\"messages\":{messages},\
         \"messages_per_s\":{:.0},\"cpu_us_per_message\":{:.2}}}",
        messages as f64 / seconds,
        cpu * 1e6 / messages.max(1) as f64
    );
    Ok(())
}

/// utime + stime of this process, in seconds.
fn process_cpu_seconds() -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or("unreadable /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // The kernel's USER_HZ, 100 on Linux (sysconf(_SC_CLK_TCK)).
    Ok(ticks as f64 / 100.0)
}
