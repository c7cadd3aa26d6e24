using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Mutants;
using Dtx.Shared.Sql;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dtx.HalfMessage;

/// <summary>What a producer sends to <c>POST /tx/prepare</c>. Nullable throughout: a missing field is a 400, not a crash.</summary>
public sealed record PrepareRequest(string? TxId, string? ProducerGroup, string? Queue, JsonElement Payload, string? CheckBackUrl)
{
    /// <summary>Returns null when the request is well formed, otherwise one line saying what is wrong.</summary>
    public string? Validate() =>
        string.IsNullOrWhiteSpace(TxId) ? "txId is required" :
        TxId.Length > 200 ? "txId is longer than 200 characters" :
        // It travels in URL paths (/tx/{txId}/commit, /checkback/{txId}), where ASP.NET keeps an escaped '/' escaped.
        TxId.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c)) ? "txId must not contain '/', spaces or control characters" :
        string.IsNullOrWhiteSpace(ProducerGroup) ? "producerGroup is required" :
        string.IsNullOrWhiteSpace(Queue) ? "queue is required" :
        System.Text.Encoding.UTF8.GetByteCount(Queue) > 255 ? "queue is longer than AMQP's 255 bytes" :
        Payload.ValueKind == JsonValueKind.Undefined ? "payload is required (any JSON value)" :
        !Uri.TryCreate(CheckBackUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https")
            ? "checkBackUrl must be an absolute http(s) URL" : null;
}

/// <summary>
/// The txbroker: the broker side of RocketMQ-style transactional messages that RabbitMQ does not have — a durable
/// coordinator, in its own process and PostgreSQL database, in front of RabbitMQ. The protocol, in order:
/// <list type="number">
/// <item><c>POST /tx/prepare</c> — the producer's half message is stored durably (<c>broker.after-persist</c> sits
///   between that commit and the answer). It is invisible to every consumer: nothing publishes it yet.</item>
/// <item><c>POST /tx/{txId}/commit</c> or <c>/rollback</c> — the producer's decision after its local transaction,
///   applied as a compare-and-set: the first resolution wins, a repeat of it is an idempotent success
///   (<c>resolvedNow: false</c>), the opposite one is refused with 409. RocketMQ re-writes the message on a second
///   commit (#5574) and lets a commit through after a rollback (#8158, #2694).</item>
/// <item>check-back — when no decision comes, the <see cref="CheckBackScanner"/> asks the producer, and after the
///   last check of a round parks the transaction as needs-attention (RocketMQ moves it to a system topic without
///   telling anyone); <c>POST /admin/tx/{txId}/resume</c> starts a new round.</item>
/// <item>dispatch — the <see cref="Dispatcher"/> publishes committed messages to their queue, txId as message id
///   (<c>relay.after-publish</c> sits between RabbitMQ's confirm and marking the row).</item>
/// </list>
/// All state lives in <see cref="TxBrokerStore"/>; <c>GET /stats</c> reads it from there, so it survives a crash.
/// </summary>
public sealed class TxBroker : IServiceRole
{
    public const string AfterPersist = StepRoles.BrokerAfterPersist;

    /// <summary>The txbroker's settings; the defaults are RocketMQ's broker defaults (RocketMQ's BrokerConfig).</summary>
    public sealed record Settings(
        TimeSpan TxTimeout, TimeSpan CheckInterval, int MaxChecks, TimeSpan CheckRequestTimeout,
        TimeSpan ScanInterval, TimeSpan Lease, TimeSpan PollInterval)
    {
        public static Settings From(ServiceOptions options)
        {
            var settings = new Settings(
                // transactionTimeOut: a prepared message is checked once it is older than this.
                TxTimeout: options.Duration("tx-timeout", "6s"),
                // transactionCheckInterval (30 s since 5.1.1): the time between two checks of one transaction.
                CheckInterval: options.Duration("check-interval", "30s"),
                // transactionCheckMax: checks per round before the transaction needs attention.
                MaxChecks: options.Int("max-checks", 15, min: 1, max: 1_000),
                // RocketMQ sends the check one-way with a 10 ms timeout and never learns whether it arrived (#1694).
                CheckRequestTimeout: options.Duration("check-request-timeout", "3s"),
                ScanInterval: options.Duration("scan-interval", "500ms"),
                Lease: options.Lease,
                PollInterval: options.PollInterval);
            return settings;
        }
    }

    public IReadOnlyList<string> Failpoints { get; } = [AfterPersist, Dispatcher.AfterPublish];

    public IReadOnlyList<string> Mutants { get; } = [MutantCatalog.DispatchBeforeCommit, MutantCatalog.NewMessageIdPerDispatch];

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(Settings.From(options));
        services.AddSingleton(Database.Open(options.Database, "txbroker"));
        services.AddSingleton<ProducerRegistry>();
        services.AddSingleton<Dispatcher>();
        services.AddSingleton<CheckBackScanner>();
    }

    public void MapEndpoints(WebApplication app)
    {
        app.MapPost("/tx/prepare", PrepareAsync);
        app.MapPost("/tx/{txId}/commit", (string txId, NpgsqlDataSource db, Dispatcher dispatcher, CancellationToken ct) =>
            ResolveAsync(txId, TxState.Committed, db, dispatcher, ct));
        app.MapPost("/tx/{txId}/rollback", (string txId, NpgsqlDataSource db, Dispatcher dispatcher, CancellationToken ct) =>
            ResolveAsync(txId, TxState.RolledBack, db, dispatcher, ct));
        app.MapGet("/tx/{txId}", GetAsync);
        app.MapGet("/admin/parked", ParkedAsync);
        app.MapPost("/admin/tx/{txId}/resume", ResumeAsync);
        app.MapGet("/stats", StatsAsync);
    }

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var log = services.GetRequiredService<ILogger<TxBroker>>();
        await Database.ApplySchemaAsync(options.Database, stopping, TxBrokerStore.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "txbroker", log, TimeSpan.FromSeconds(60), stopping);
        // The dispatcher starts first: committed rows a crashed predecessor left undispatched go out at once.
        await services.GetRequiredService<Dispatcher>().StartAsync(amqp, stopping);
        await services.GetRequiredService<CheckBackScanner>().StartAsync(stopping);
    }

    // ---------------------------------------------------------------- 1. prepare

    private static async Task<IResult> PrepareAsync(HttpRequest http, NpgsqlDataSource db, ProducerRegistry producers, Dispatcher dispatcher, Failpoints failpoints, CancellationToken ct)
    {
        PrepareRequest? request;
        try
        {
            // Read whatever the content type says: a producer that forgot the header still sent JSON.
            request = await JsonSerializer.DeserializeAsync<PrepareRequest>(http.Body, Json.Options, ct);
        }
        catch (Exception e) when (e is JsonException or BadHttpRequestException)
        {
            return Error(StatusCodes.Status400BadRequest, $"the body is not a prepare request: {e.Message}");
        }
        if (request is null) return Error(StatusCodes.Status400BadRequest, "the body is empty");
        if (request.Validate() is { } problem) return Error(StatusCodes.Status400BadRequest, problem);

        // Before the half message, so the instance is known by the time its transaction can first be checked.
        await producers.SeenAsync(request.ProducerGroup!, request.CheckBackUrl!, ct);
        var (outcome, state) = await TxBrokerStore.PrepareAsync(db, request, ct);
        if (outcome == TxBrokerStore.PrepareOutcome.Conflict)
        {
            return Reply(StatusCodes.Status409Conflict, new
            {
                txId = request.TxId,
                state,
                error = state == TxState.Prepared
                    ? "this txId is already prepared with another producer group, queue or payload"
                    : $"this txId is already {TxBrokerStore.ToText(state)}",
            });
        }
        if (outcome == TxBrokerStore.PrepareOutcome.Stored) dispatcher.Prepared(request.TxId!);
        // Durable now. A crash here leaves the producer without an answer, so it must not run its local
        // transaction, yet the half exists: check-back resolves it (the producer answers rollback, or commit if it
        // retried the prepare — the repeat is answered 200 — and went on).
        await failpoints.HitAsync(AfterPersist, ct);
        return Reply(StatusCodes.Status200OK, new { txId = request.TxId, state = TxState.Prepared });
    }

    // ---------------------------------------------------------------- 2. commit / rollback

    private static async Task<IResult> ResolveAsync(string txId, TxState target, NpgsqlDataSource db, Dispatcher dispatcher, CancellationToken ct)
    {
        var resolution = await TxBrokerStore.ResolveAsync(db, txId, target, "producer", ct);
        if (resolution.ResolvedNow)
        {
            // After the commit is stored, never before: only a durable commit is handed on. (The dispatcher would
            // not publish anything else anyway: it claims committed rows only.)
            if (target == TxState.Committed) dispatcher.HandOff(txId);
            return Reply(StatusCodes.Status200OK, new { txId, state = target, resolvedNow = true });
        }
        return resolution.State switch
        {
            null => Error(StatusCodes.Status404NotFound, $"no transaction {txId}"),
            // The same decision again (a retry whose answer was lost, or a check-back got there first): success, but
            // saying it did nothing now, so a late resolution is never mistaken for the one that took effect.
            { } same when same == target => Reply(StatusCodes.Status200OK, new { txId, state = same, resolvedNow = false }),
            // The other decision already won. Refused explicitly, never silently applied (RocketMQ #2694, #8158).
            { } other => Reply(StatusCodes.Status409Conflict, new
            {
                txId,
                state = other,
                resolvedNow = false,
                error = $"{txId} is already {TxBrokerStore.ToText(other)}; the first resolution wins",
            }),
        };
    }

    // ---------------------------------------------------------------- around the protocol: reading and administration

    private static async Task<IResult> GetAsync(string txId, NpgsqlDataSource db, CancellationToken ct) =>
        await TxBrokerStore.FindAsync(db, txId, ct) is { } view
            ? Reply(StatusCodes.Status200OK, view)
            : Error(StatusCodes.Status404NotFound, $"no transaction {txId}");

    private static async Task<IResult> ParkedAsync(NpgsqlDataSource db, CancellationToken ct) =>
        Reply(StatusCodes.Status200OK, await TxBrokerStore.ParkedAsync(db, ct));

    private static async Task<IResult> ResumeAsync(string txId, NpgsqlDataSource db, ILogger<TxBroker> log, CancellationToken ct)
    {
        var (resumed, state) = await TxBrokerStore.ResumeAsync(db, txId, ct);
        if (resumed)
        {
            log.LogInformation("{TxId} resumed by an admin: a new round of checks starts now", txId);
            return Reply(StatusCodes.Status200OK, new { txId, state = TxState.Prepared });
        }
        return state is { } found
            ? Reply(StatusCodes.Status409Conflict, new { txId, state = found, error = $"{txId} is {TxBrokerStore.ToText(found)}, not parked" })
            : Error(StatusCodes.Status404NotFound, $"no transaction {txId}");
    }

    private static async Task<IResult> StatsAsync(NpgsqlDataSource db, CancellationToken ct) =>
        Reply(StatusCodes.Status200OK, await TxBrokerStore.StatsAsync(db, ct));

    /// <summary>Every body in camelCase with enums in kebab-case (rolled-back, needs-attention), as the other services speak.</summary>
    private static IResult Reply(int status, object body) => Results.Json(body, Json.Options, statusCode: status);

    private static IResult Error(int status, string error) => Reply(status, new { error });

    /// <summary>
    /// Keeps the producers table current without making it a hot row: every prepare from one instance would
    /// otherwise update the same row and queue behind its lock. Once a second per instance is fresh enough for
    /// choosing whom to ask when a check falls through, and it is written in its own short statement, outside
    /// the half message's transaction, because it is a hint, not part of any transaction's truth.
    /// </summary>
    public sealed class ProducerRegistry(NpgsqlDataSource db)
    {
        private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(1);
        private readonly ConcurrentDictionary<(string Group, string Url), DateTime> _written = new();

        public async Task SeenAsync(string producerGroup, string url, CancellationToken ct)
        {
            var key = (producerGroup, url);
            var now = DateTime.UtcNow;
            if (_written.TryGetValue(key, out var last) && now - last < Refresh) return;
            await TxBrokerStore.SeenProducerAsync(db, producerGroup, url, ct);
            _written[key] = now;
        }
    }
}
