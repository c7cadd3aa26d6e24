using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Dtx.Harness.Checking;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;
using Dtx.Shared.Business;

namespace Dtx.Harness.Load;

/// <summary>
/// What the load measured: latencies from each request's scheduled start to its last attempt's end, in milliseconds;
/// how many attempts were re-sends of an indeterminate one, and how many of those the service answered "already placed".
/// </summary>
public sealed record LoadStats(int Requested, IReadOnlyList<double> OkLatenciesMs, IReadOnlyList<double> AllLatenciesMs, double Seconds,
    int Retried = 0, int RetriedAlreadyPlaced = 0);

/// <summary>
/// An open-model load generator: request i is due at i / rate seconds, whether or not earlier ones have
/// answered, and its latency is measured from that due time (wrk2's way). A closed loop would slow down while
/// the system stalls and the stall would vanish from the percentiles (coordinated omission); here it shows.
/// </summary>
public sealed class OpenModelLoad(LoadPlan plan, IReadOnlyList<PlaceOrder> orders, Uri initiator, HistoryRecorder history, RunClock clock)
{
    public async Task<LoadStats> RunAsync(CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 512,
        })
        { BaseAddress = initiator, Timeout = Timeout.InfiniteTimeSpan };

        var okLatencies = new List<double>();
        int retried = 0, retriedAlreadyPlaced = 0;
        var allLatencies = new List<double>();
        var inFlight = new List<Task>(orders.Count);
        var started = clock.Elapsed;
        for (var i = 0; i < orders.Count && !ct.IsCancellationRequested; i++)
        {
            var due = started + TimeSpan.FromSeconds(i / plan.Rate);
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
            var process = i;
            var order = orders[i];
            inFlight.Add(Task.Run(async () =>
            {
                var (type, detail) = await SendAsync(http, process, order, ct);
                // The client goes on while it does not know what became of the order: after an indeterminate answer,
                // and after a re-send that was refused (the initiator still restarting), since a refusal says nothing
                // about the first attempt. Stopping at the refusal left a committed order's re-send untried.
                var unknown = type == OpType.Info;
                for (var attempt = 1; attempt <= plan.Retries && unknown && !ct.IsCancellationRequested; attempt++)
                {
                    try
                    {
                        await Task.Delay(plan.RetryBackoff, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    // A new logical client for each re-send (Jepsen's rule: a client whose request ended indeterminate is
                    // gone), asking for the same order id.
                    (type, detail) = await SendAsync(http, process + attempt * orders.Count, order, ct);
                    Interlocked.Increment(ref retried);
                    if (detail == AlreadyPlaced) Interlocked.Increment(ref retriedAlreadyPlaced);
                    unknown = type == OpType.Info || (type == OpType.Fail && detail == ConnectionRefused);
                }
                var latencyMs = (clock.Elapsed - due).TotalMilliseconds;
                lock (allLatencies)
                {
                    allLatencies.Add(latencyMs);
                    if (type == OpType.Ok) okLatencies.Add(latencyMs);
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(inFlight);
        return new LoadStats(inFlight.Count, okLatencies, allLatencies, (clock.Elapsed - started).TotalSeconds, retried, retriedAlreadyPlaced);
    }

    private async Task<(OpType Type, string? Detail)> SendAsync(HttpClient http, int process, PlaceOrder order, CancellationToken ct)
    {
        history.Record(process, OpType.Invoke, order, clock.Seconds);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(plan.RequestTimeout);
        var (type, detail) = await ClassifyAsync(() => http.PostAsJsonAsync("/orders", order, Json.Options, timeout.Token));
        history.Record(process, type, order, clock.Seconds, detail);
        return (type, detail);
    }

    private const string ConnectionRefused = "connection refused";

    /// <summary>The detail of a 200 answer: the order id was placed before (a re-send met its first attempt's work).</summary>
    private const string AlreadyPlaced = "already placed";

    /// <summary>
    /// Jepsen's three outcomes. Fail only when the order certainly did not happen: a refused connection (nothing
    /// was sent) or a 4xx the initiator gives before committing anything. A timeout, a reset after sending, or a
    /// 5xx may hide a commit, so it is Info: indeterminate, and the checker accepts all or nothing for it.
    /// </summary>
    public static async Task<(OpType Type, string? Detail)> ClassifyAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            using var response = await send();
            var code = (int)response.StatusCode;
            return code switch
            {
                200 => (OpType.Ok, AlreadyPlaced), // 201 is a new order; 200 says the id had been placed already
                >= 200 and < 300 => (OpType.Ok, null),
                >= 400 and < 500 => (OpType.Fail, $"{code} {await BodyAsync(response)}"),
                _ => (OpType.Info, $"{code} {await BodyAsync(response)}"),
            };
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return (OpType.Fail, ConnectionRefused);
        }
        catch (HttpRequestException e)
        {
            return (OpType.Info, e.HttpRequestError + ": " + e.Message);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // Not every socket error comes wrapped: a connection the crashing initiator accepted and dropped at once
            // surfaced as a bare SocketException ("Transport endpoint is not connected") and ended the whole run in
            // an error. Whatever it was, this request's fate is unknown to the client.
            return (OpType.Info, e.GetType().Name + ": " + e.Message);
        }
        catch (OperationCanceledException)
        {
            return (OpType.Info, "timeout");
        }
    }

    private static async Task<string> BodyAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return body.Length > 200 ? body[..200] : body;
    }
}
