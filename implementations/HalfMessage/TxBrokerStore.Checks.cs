using Npgsql;

namespace Dtx.HalfMessage;

public static partial class TxBrokerStore
{
    // ---------------------------------------------------------------- 3. check-back (the CheckBackScanner's SQL)

    /// <summary>One check the scanner has claimed: which transaction, whom to ask first, and which check of the round it is.</summary>
    public sealed record DueCheck(string TxId, string ProducerGroup, string CheckBackUrl, int CheckOfRound);

    /// <summary>
    /// Claims up to <paramref name="limit"/> prepared transactions that are older than <paramref name="txTimeout"/>
    /// and due for a check, in one short statement: the row locks last only as long as the statement, never across
    /// the HTTP call to the producer. The claim counts the check as sent and pushes the next check past
    /// <paramref name="inFlightFor"/>, the longest this check can take, so that a slow producer is never asked
    /// twice at once about one transaction; a broker that dies mid-check just lets that time run out.
    /// Age is measured with the database's clock from the database's prepared_at: a producer's clock plays no
    /// part (RocketMQ computes now − bornTimestamp across two machines' clocks and checks committed ones, #9640).
    /// </summary>
    public static async Task<IReadOnlyList<DueCheck>> ClaimDueChecksAsync(NpgsqlDataSource db, TimeSpan txTimeout, TimeSpan inFlightFor, int limit, CancellationToken ct)
    {
        await using var claim = db.CreateCommand("""
            UPDATE half_messages
            SET checks_sent = checks_sent + 1, round_checks = round_checks + 1,
                next_check_at = clock_timestamp() + @in_flight_for
            WHERE tx_id IN (
                SELECT tx_id FROM half_messages
                WHERE state = 'prepared'
                  AND prepared_at < clock_timestamp() - @tx_timeout
                  AND next_check_at <= clock_timestamp()
                ORDER BY next_check_at
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
              -- Stated again for the row as locked and updated: only a prepared transaction is ever checked.
              AND state = 'prepared'
            RETURNING tx_id, producer_group, check_back_url, round_checks
            """);
        claim.Parameters.AddWithValue("tx_timeout", txTimeout);
        claim.Parameters.AddWithValue("in_flight_for", inFlightFor);
        claim.Parameters.AddWithValue("limit", limit);
        var due = new List<DueCheck>();
        await using var reader = await claim.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            due.Add(new DueCheck(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3)));
        return due;
    }

    /// <summary>The other instances of a producer group, most recently seen first: whom to ask when the preparing one is unreachable.</summary>
    public static async Task<IReadOnlyList<string>> OtherProducersAsync(NpgsqlDataSource db, string producerGroup, string except, int limit, CancellationToken ct)
    {
        await using var read = db.CreateCommand("""
            SELECT url FROM producers WHERE producer_group = @producer_group AND url <> @except
            ORDER BY last_seen DESC LIMIT @limit
            """);
        read.Parameters.AddWithValue("producer_group", producerGroup);
        read.Parameters.AddWithValue("except", except);
        read.Parameters.AddWithValue("limit", limit);
        var urls = new List<string>();
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) urls.Add(reader.GetString(0));
        return urls;
    }

    /// <summary>What the producer said: commit, rollback, unknown — or nothing at all (refused, timed out, failed).</summary>
    public enum CheckAnswer { Commit, Rollback, Unknown, NoAnswer }

    /// <summary>What applying an answer did to the transaction.</summary>
    public enum CheckEffect { Committed, RolledBack, StillPrepared, Parked, AlreadyResolved }

    /// <summary>
    /// Applies a check's answer with a compare-and-set from prepared, so a producer's own commit or rollback that
    /// arrived meanwhile wins and is never overturned (RocketMQ lets a later, contradicting END through, #2694).
    /// An answer for a transaction that is no longer prepared is counted as unexpected — the check was not needed
    /// (RocketMQ #1517, #2360, #4436) — and changes nothing else. Commit sets the row due for dispatch in the
    /// same statement. Unknown or no answer leaves it prepared, next check one interval from now; after the
    /// round's last check it is parked as needs-attention instead of RocketMQ's silent discard.
    /// </summary>
    public static async Task<CheckEffect> ApplyCheckAnswerAsync(NpgsqlDataSource db, string txId, CheckAnswer answer, int maxChecks, TimeSpan checkInterval, CancellationToken ct)
    {
        var answered = answer != CheckAnswer.NoAnswer;
        await using (var apply = db.CreateCommand(answer switch
        {
            CheckAnswer.Commit => """
                UPDATE half_messages
                SET state = 'committed', resolved_at = clock_timestamp(), resolved_by = 'check-back',
                    checks_answered = checks_answered + 1, dispatch_due_at = clock_timestamp()
                WHERE tx_id = @tx_id AND state = 'prepared'
                RETURNING state
                """,
            CheckAnswer.Rollback => """
                UPDATE half_messages
                SET state = 'rolled-back', resolved_at = clock_timestamp(), resolved_by = 'check-back',
                    checks_answered = checks_answered + 1
                WHERE tx_id = @tx_id AND state = 'prepared'
                RETURNING state
                """,
            _ => """
                UPDATE half_messages
                SET checks_answered = checks_answered + CASE WHEN @answered THEN 1 ELSE 0 END,
                    state = CASE WHEN round_checks >= @max_checks THEN 'needs-attention' ELSE 'prepared' END,
                    times_parked = times_parked + CASE WHEN round_checks >= @max_checks THEN 1 ELSE 0 END,
                    next_check_at = clock_timestamp() + @check_interval
                WHERE tx_id = @tx_id AND state = 'prepared'
                RETURNING state
                """,
        }))
        {
            apply.Parameters.AddWithValue("tx_id", txId);
            apply.Parameters.AddWithValue("answered", answered);
            apply.Parameters.AddWithValue("max_checks", maxChecks);
            apply.Parameters.AddWithValue("check_interval", checkInterval);
            if (await apply.ExecuteScalarAsync(ct) is string state)
            {
                return ParseState(state) switch
                {
                    TxState.Committed => CheckEffect.Committed,
                    TxState.RolledBack => CheckEffect.RolledBack,
                    TxState.NeedsAttention => CheckEffect.Parked,
                    _ => CheckEffect.StillPrepared,
                };
            }
        }

        // Not prepared any more: resolved by the producer while the check was under way. Silence proves nothing, so
        // only an answer is counted, as answered and as unexpected.
        if (answered)
        {
            await using var count = db.CreateCommand("""
                UPDATE half_messages SET checks_answered = checks_answered + 1, unexpected_checks = unexpected_checks + 1
                WHERE tx_id = @tx_id
                """);
            count.Parameters.AddWithValue("tx_id", txId);
            await count.ExecuteNonQueryAsync(ct);
        }
        return CheckEffect.AlreadyResolved;
    }
}
