using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dtx.Harness.Faults;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Services;
using Dtx.HalfMessage;
using Dtx.Shared.Business;
using Dtx.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Xunit;

namespace Dtx.Tests.HalfMessage;

/// <summary>
/// The txbroker alone, for one test: a fresh database on the shared PostgreSQL, the txbroker as a real process
/// under a <see cref="Supervisor"/> (so a failpoint crash is a SIGKILL and a restart), a client for its HTTP API,
/// and a consumer on a fresh destination queue that records what RabbitMQ delivers.
/// </summary>
public sealed class TxBrokerRig : IAsyncDisposable
{
    public const string Role = "txbroker";

    private readonly HttpClient _http;
    private readonly IConnection _amqp;
    private readonly IChannel _channel;
    private readonly FaultLog _faults;

    private TxBrokerRig(Supervisor supervisor, FaultLog faults, string queue, IConnection amqp, IChannel channel)
    {
        Supervisor = supervisor;
        _faults = faults;
        Queue = queue;
        _amqp = amqp;
        _channel = channel;
        // A fresh connection per request: after a crash the restarted txbroker listens on the same port, and a
        // kept-alive connection to the dead process would fail the first request that reused it.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
        {
            BaseAddress = supervisor.UrlOf(Role),
            Timeout = TimeSpan.FromSeconds(10),
            DefaultRequestHeaders = { ConnectionClose = true },
        };
    }

    public Supervisor Supervisor { get; }

    /// <summary>The destination queue of this test's transactions.</summary>
    public string Queue { get; }

    /// <summary>Everything RabbitMQ delivered from <see cref="Queue"/>, in order.</summary>
    public ConcurrentQueue<(string? MessageId, string Body)> Delivered { get; } = new();

    /// <param name="txTimeout">How old a prepared message must be before it is checked; long by default so that only the check-back tests see checks.</param>
    public static async Task<TxBrokerRig> StartAsync(ServersFixture servers, string txTimeout = "30s", int maxChecks = 10, string? failpoints = null)
    {
        var tag = "t" + Guid.NewGuid().ToString("N")[..8];
        var port = FreePort.Next();
        var options = new Dictionary<string, string>
        {
            ["http-port"] = port.ToString(CultureInfo.InvariantCulture),
            ["db"] = await servers.Postgres.CreateDatabaseAsync(tag + "_txbroker"),
            ["amqp"] = servers.RabbitMq.AmqpUri,
            ["tx-timeout"] = txTimeout,
            ["check-interval"] = "500ms",
            ["max-checks"] = maxChecks.ToString(CultureInfo.InvariantCulture),
            ["check-request-timeout"] = "1s",
            ["scan-interval"] = "100ms",
            ["lease"] = "1s",
            ["poll-interval"] = "100ms",
        };
        if (failpoints is not null) options["failpoints"] = failpoints;
        var faults = new FaultLog();
        var supervisor = new Supervisor(HalfMessageService.Name, new RunClock(), servers.LogDir, faults, _ => { });
        await supervisor.StartAsync(Role, options, port, default);

        var queue = $"test.{tag}.orders";
        var amqp = await new ConnectionFactory { Uri = new Uri(servers.RabbitMq.AmqpUri) }.CreateConnectionAsync();
        var channel = await amqp.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        var rig = new TxBrokerRig(supervisor, faults, queue, amqp, channel);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            rig.Delivered.Enqueue((delivery.BasicProperties.MessageId, Encoding.UTF8.GetString(delivery.Body.Span)));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        return rig;
    }

    public static string NewTxId() => "tx-" + Guid.NewGuid().ToString("N")[..12];

    // ------------------------------------------------------------ the HTTP API

    public Task<HttpResponseMessage> PrepareAsync(string txId, string checkBackUrl, object? payload = null, string producerGroup = "inventory") =>
        _http.PostAsJsonAsync("/tx/prepare", new
        {
            txId,
            producerGroup,
            queue = Queue,
            payload = payload ?? new { orderId = txId, qty = 1 },
            checkBackUrl,
        }, Json.Options);

    public Task<HttpResponseMessage> PostRawAsync(string path, string json) =>
        _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> CommitAsync(string txId) => _http.PostAsync($"/tx/{txId}/commit", null);

    public Task<HttpResponseMessage> RollbackAsync(string txId) => _http.PostAsync($"/tx/{txId}/rollback", null);

    public Task<HttpResponseMessage> ResumeAsync(string txId) => _http.PostAsync($"/admin/tx/{txId}/resume", null);

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(path);

    /// <summary>GET /tx/{txId}, which must exist.</summary>
    public async Task<JsonElement> TxAsync(string txId)
    {
        using var response = await _http.GetAsync($"/tx/{txId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await BodyAsync(response);
    }

    public async Task<JsonElement> StatsAsync()
    {
        using var response = await _http.GetAsync("/stats");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await BodyAsync(response);
    }

    public static async Task<JsonElement> BodyAsync(HttpResponseMessage response) =>
        JsonSerializer.Deserialize<JsonElement>(await response.Content.ReadAsStringAsync());

    /// <summary>Asserts the status and returns the body.</summary>
    public static async Task<JsonElement> ExpectAsync(HttpStatusCode status, Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var body = await BodyAsync(response);
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        return body;
    }

    // ------------------------------------------------------------ waiting

    public Task<JsonElement> StateBecomesAsync(string txId, string state, TimeSpan within) =>
        Eventually.HoldsAsync(() => TxAsync(txId), tx => tx.GetProperty("state").GetString() == state, within, $"{txId} {state}");

    public Task<int> DeliveredCountAsync(string txId, int atLeast, TimeSpan within) =>
        Eventually.HoldsAsync(() => Task.FromResult(DeliveriesOf(txId)), n => n >= atLeast, within, $"{atLeast} delivery(ies) of {txId}");

    public int DeliveriesOf(string txId) => Delivered.Count(d => d.MessageId == txId);

    /// <summary>Waits a little and asserts that nothing more arrived: the check that a count is final.</summary>
    public async Task StaysAsync(string txId, int deliveries, TimeSpan during)
    {
        await Task.Delay(during);
        Assert.Equal(deliveries, DeliveriesOf(txId));
    }

    public Task<int> RestartedAsync(int crashes) =>
        Eventually.HoldsAsync(() => Task.FromResult(_faults.All.Count(f => f.EndSeconds is not null)), n => n >= crashes, TimeSpan.FromSeconds(30), $"{crashes} restart(s)");

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await Supervisor.DisposeAsync();
        await _channel.CloseAsync();
        await _amqp.CloseAsync();
        _channel.Dispose();
        _amqp.Dispose();
    }
}
