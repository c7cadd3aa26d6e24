using Npgsql;
using NpgsqlTypes;

namespace Dtx.HalfMessage;

/// <summary>The four states of a half message. Only <see cref="Prepared"/> and <see cref="NeedsAttention"/> can still change.</summary>
public enum TxState { Prepared, Committed, RolledBack, NeedsAttention }

/// <summary>
/// The txbroker's database: one durable row per transaction, which is at once the half message (invisible to
/// consumers), its resolution, its check-back bookkeeping and its "to dispatch" record. Everything the broker
/// decides is a single compare-and-set on that row, so the first resolution wins and nothing is decided twice —
/// the property RocketMQ's broker lacks (a second END_TRANSACTION re-writes the message: #5574, #8158, #2694).
/// This file holds the schema and the SQL behind the HTTP API (<see cref="TxBroker"/>); <c>TxBrokerStore.Checks.cs</c>
/// holds the <see cref="CheckBackScanner"/>'s, <c>TxBrokerStore.Dispatch.cs</c> the <see cref="Dispatcher"/>'s.
/// Every time is the database's clock (<c>clock_timestamp()</c>), never a producer's (RocketMQ #9640).
/// </summary>
public static partial class TxBrokerStore
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS half_messages (
            tx_id             text PRIMARY KEY,
            producer_group    text NOT NULL,
            queue             text NOT NULL,
            payload           jsonb NOT NULL,
            -- The instance that prepared it: asked first when the transaction is checked (RocketMQ #9791 asks any).
            check_back_url    text NOT NULL,
            state             text NOT NULL DEFAULT 'prepared'
                              CHECK (state IN ('prepared', 'committed', 'rolled-back', 'needs-attention')),
            prepared_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
            resolved_at       timestamptz,
            -- producer (its commit/rollback call) or check-back (the scanner applied an answer).
            resolved_by       text,
            -- Check-back. Sent and answered are counted apart: a check nobody answered is not an answer (RocketMQ
            -- counts a check the producer never got, #1694). round_checks restarts at 0 when an admin resumes.
            checks_sent       int NOT NULL DEFAULT 0,
            checks_answered   int NOT NULL DEFAULT 0,
            unexpected_checks int NOT NULL DEFAULT 0,
            round_checks      int NOT NULL DEFAULT 0,
            times_parked      int NOT NULL DEFAULT 0,
            next_check_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
            -- Dispatch: set to "due now" in the same statement that commits, so "committed" and "to dispatch"
            -- cannot be separated by a crash (RocketMQ can lose the op record after the real-topic write; docs/comparison.md).
            dispatch_due_at      timestamptz,
            dispatch_lease_until timestamptz,
            dispatch_attempts    int NOT NULL DEFAULT 0,
            dispatched_at        timestamptz
        );
        CREATE INDEX IF NOT EXISTS half_messages_check_due ON half_messages (next_check_at) WHERE state = 'prepared';
        CREATE INDEX IF NOT EXISTS half_messages_dispatch_due ON half_messages (dispatch_due_at)
            WHERE state = 'committed' AND dispatched_at IS NULL;
        CREATE INDEX IF NOT EXISTS half_messages_parked ON half_messages (prepared_at) WHERE state = 'needs-attention';
        -- Every check-back URL seen per producer group, for falling through to another instance when the one that
        -- prepared a transaction is gone. Written on prepare; a hint, not part of any transaction's truth.
        CREATE TABLE IF NOT EXISTS producers (
            producer_group  text NOT NULL,
            url             text NOT NULL,
            last_seen       timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (producer_group, url)
        );
        -- Every publish RabbitMQ confirmed, for the redispatched count: rows beyond the first per transaction.
        CREATE TABLE IF NOT EXISTS dispatch_log (
            tx_id          text NOT NULL,
            published_at   timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX IF NOT EXISTS dispatch_log_tx ON dispatch_log (tx_id);
        """;

    /// <summary>Everything the HTTP API shows about one transaction.</summary>
    public sealed record TxView(
        string TxId, TxState State, string ProducerGroup, string Queue, int ChecksSent, int ChecksAnswered,
        int ChecksThisRound, DateTime PreparedAt, DateTime? ResolvedAt, string? ResolvedBy, DateTime? DispatchedAt);

    public static string ToText(TxState state) => state switch
    {
        TxState.Prepared => "prepared",
        TxState.Committed => "committed",
        TxState.RolledBack => "rolled-back",
        TxState.NeedsAttention => "needs-attention",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static TxState ParseState(string text) => text switch
    {
        "prepared" => TxState.Prepared,
        "committed" => TxState.Committed,
        "rolled-back" => TxState.RolledBack,
        "needs-attention" => TxState.NeedsAttention,
        _ => throw new InvalidOperationException($"unknown state '{text}' in half_messages"),
    };

    // ---------------------------------------------------------------- 1. prepare

    public enum PrepareOutcome { Stored, AlreadyPrepared, Conflict }

    /// <summary>
    /// Stores the half message durably (the statement has committed when this returns). A txId that is already
    /// stored is not overwritten: an identical one that is still prepared is a producer's retry of a prepare
    /// whose answer it lost, anything else is a different transaction under a reused id.
    /// </summary>
    public static async Task<(PrepareOutcome Outcome, TxState State)> PrepareAsync(NpgsqlDataSource db, PrepareRequest request, CancellationToken ct)
    {
        await using (var insert = db.CreateCommand("""
            INSERT INTO half_messages (tx_id, producer_group, queue, payload, check_back_url)
            VALUES (@tx_id, @producer_group, @queue, @payload, @check_back_url)
            ON CONFLICT (tx_id) DO NOTHING
            """))
        {
            insert.Parameters.AddWithValue("tx_id", request.TxId!);
            insert.Parameters.AddWithValue("producer_group", request.ProducerGroup!);
            insert.Parameters.AddWithValue("queue", request.Queue!);
            insert.Parameters.AddWithValue("payload", NpgsqlDbType.Jsonb, request.Payload.GetRawText());
            insert.Parameters.AddWithValue("check_back_url", request.CheckBackUrl!);
            if (await insert.ExecuteNonQueryAsync(ct) == 1) return (PrepareOutcome.Stored, TxState.Prepared);
        }

        // jsonb equality is semantic: the same payload re-serialized with other spacing or key order is the same.
        await using var existing = db.CreateCommand("""
            SELECT state, producer_group = @producer_group AND queue = @queue AND payload = @payload
            FROM half_messages WHERE tx_id = @tx_id
            """);
        existing.Parameters.AddWithValue("tx_id", request.TxId!);
        existing.Parameters.AddWithValue("producer_group", request.ProducerGroup!);
        existing.Parameters.AddWithValue("queue", request.Queue!);
        existing.Parameters.AddWithValue("payload", NpgsqlDbType.Jsonb, request.Payload.GetRawText());
        await using var reader = await existing.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) throw new InvalidOperationException($"half message {request.TxId} conflicted on insert but is not there");
        var state = ParseState(reader.GetString(0));
        return (state == TxState.Prepared && reader.GetBoolean(1) ? PrepareOutcome.AlreadyPrepared : PrepareOutcome.Conflict, state);
    }

    /// <summary>Remembers that this check-back URL serves this producer group, as of now (database clock).</summary>
    public static async Task SeenProducerAsync(NpgsqlDataSource db, string producerGroup, string url, CancellationToken ct)
    {
        await using var upsert = db.CreateCommand("""
            INSERT INTO producers (producer_group, url) VALUES (@producer_group, @url)
            ON CONFLICT (producer_group, url) DO UPDATE SET last_seen = clock_timestamp()
            """);
        upsert.Parameters.AddWithValue("producer_group", producerGroup);
        upsert.Parameters.AddWithValue("url", url);
        await upsert.ExecuteNonQueryAsync(ct);
    }

    // ---------------------------------------------------------------- 2. commit / rollback from the producer

    /// <summary>What a resolution did: <c>ResolvedNow</c> when this call moved the transaction; otherwise its state as found (null: unknown txId).</summary>
    public sealed record Resolution(bool ResolvedNow, TxState? State);

    /// <summary>
    /// Compare-and-set from prepared (or needs-attention: a late answer from the producer is still authoritative)
    /// to <paramref name="target"/>. Committing sets the row due for dispatch in the same statement, hence in the
    /// same transaction. A transaction already resolved is left alone and reported as found, so the caller can
    /// tell an idempotent repeat (same state) from a refused contradiction (the other state).
    /// </summary>
    public static async Task<Resolution> ResolveAsync(NpgsqlDataSource db, string txId, TxState target, string resolvedBy, CancellationToken ct)
    {
        await using (var resolve = db.CreateCommand("""
            UPDATE half_messages
            SET state = @target, resolved_at = clock_timestamp(), resolved_by = @resolved_by,
                dispatch_due_at = CASE WHEN @target = 'committed' THEN clock_timestamp() END
            WHERE tx_id = @tx_id AND state IN ('prepared', 'needs-attention')
            """))
        {
            resolve.Parameters.AddWithValue("tx_id", txId);
            resolve.Parameters.AddWithValue("target", ToText(target));
            resolve.Parameters.AddWithValue("resolved_by", resolvedBy);
            if (await resolve.ExecuteNonQueryAsync(ct) == 1)
                return new Resolution(true, target);
        }
        return new Resolution(false, await StateOfAsync(db, txId, ct));
    }

    public static async Task<TxState?> StateOfAsync(NpgsqlDataSource db, string txId, CancellationToken ct)
    {
        await using var read = db.CreateCommand("SELECT state FROM half_messages WHERE tx_id = @tx_id");
        read.Parameters.AddWithValue("tx_id", txId);
        return await read.ExecuteScalarAsync(ct) is string state ? ParseState(state) : null;
    }

    // ---------------------------------------------------------------- around the protocol: reading and administration

    private const string ViewColumns = """
        tx_id, state, producer_group, queue, checks_sent, checks_answered, round_checks,
        prepared_at, resolved_at, resolved_by, dispatched_at
        """;

    public static async Task<TxView?> FindAsync(NpgsqlDataSource db, string txId, CancellationToken ct)
    {
        await using var read = db.CreateCommand($"SELECT {ViewColumns} FROM half_messages WHERE tx_id = @tx_id");
        read.Parameters.AddWithValue("tx_id", txId);
        var rows = await ReadViewsAsync(read, ct);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The transactions the scanner gave up on: the explicit list RocketMQ only has as a system topic nobody reads.</summary>
    public static async Task<IReadOnlyList<TxView>> ParkedAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var read = db.CreateCommand($"SELECT {ViewColumns} FROM half_messages WHERE state = 'needs-attention' ORDER BY prepared_at, tx_id");
        return await ReadViewsAsync(read, ct);
    }

    /// <summary>
    /// Puts a parked transaction back to prepared for a new round of checks, the first due at once (RocketMQ's
    /// RESUME_CHECK_HALF_MESSAGE, code 323). Returns the state found when it was not parked (null: unknown).
    /// </summary>
    public static async Task<(bool Resumed, TxState? State)> ResumeAsync(NpgsqlDataSource db, string txId, CancellationToken ct)
    {
        await using (var resume = db.CreateCommand("""
            UPDATE half_messages SET state = 'prepared', round_checks = 0, next_check_at = clock_timestamp()
            WHERE tx_id = @tx_id AND state = 'needs-attention'
            """))
        {
            resume.Parameters.AddWithValue("tx_id", txId);
            if (await resume.ExecuteNonQueryAsync(ct) == 1) return (true, TxState.Prepared);
        }
        return (false, await StateOfAsync(db, txId, ct));
    }

    public sealed record Stats(
        long CheckBacksSent, long CheckBacksAnswered, long UnexpectedCheckBacks, long Parked, long ParkedTotal,
        long Prepared, long Dispatched, long Redispatched);

    /// <summary>The run's figures, from the database so that they survive a txbroker crash.</summary>
    public static async Task<Stats> StatsAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var read = db.CreateCommand("""
            SELECT coalesce(sum(checks_sent), 0)::bigint,
                   coalesce(sum(checks_answered), 0)::bigint,
                   coalesce(sum(unexpected_checks), 0)::bigint,
                   count(*) FILTER (WHERE state = 'needs-attention'),
                   coalesce(sum(times_parked), 0)::bigint,
                   count(*) FILTER (WHERE state = 'prepared'),
                   count(*) FILTER (WHERE dispatched_at IS NOT NULL),
                   (SELECT count(*) - count(DISTINCT tx_id) FROM dispatch_log)
            FROM half_messages
            """);
        await using var reader = await read.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return new Stats(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3),
            reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7));
    }

    private static async Task<IReadOnlyList<TxView>> ReadViewsAsync(NpgsqlCommand read, CancellationToken ct)
    {
        var views = new List<TxView>();
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            views.Add(new TxView(
                reader.GetString(0), ParseState(reader.GetString(1)), reader.GetString(2), reader.GetString(3),
                reader.GetInt32(4), reader.GetInt32(5), reader.GetInt32(6), reader.GetDateTime(7),
                reader.IsDBNull(8) ? null : reader.GetDateTime(8),
                reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.IsDBNull(10) ? null : reader.GetDateTime(10)));
        }
        return views;
    }
}
