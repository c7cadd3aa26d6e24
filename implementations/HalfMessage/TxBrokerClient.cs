using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dtx.Shared.Business;
using Microsoft.Extensions.Logging;

namespace Dtx.HalfMessage;

/// <summary>Thrown when txbroker refuses a call explicitly (a conflicting resolution, an unknown transaction).</summary>
public sealed class TxBrokerRefusedException(HttpStatusCode status, string body)
    : Exception($"txbroker answered {(int)status}: {body}")
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>
/// A producer's calls to txbroker: prepare a half message, then commit or roll it back. A call that fails in
/// transit throws <see cref="HttpRequestException"/>: for prepare the caller gives up (nothing has happened yet);
/// for commit and rollback it may ignore it, because check-back resolves what a lost call left open.
/// </summary>
public sealed class TxBrokerClient(Uri txBroker, string producerGroup, Uri checkBack)
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2) })
    {
        BaseAddress = txBroker,
        Timeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Stores the half message at txbroker: durable there when this returns, invisible to consumers until committed.</summary>
    public async Task PrepareAsync<T>(string txId, string queue, T payload, CancellationToken ct)
    {
        var request = new
        {
            txId,
            producerGroup,
            queue,
            payload = JsonSerializer.SerializeToElement(payload, Json.Options),
            checkBackUrl = checkBack.ToString().TrimEnd('/'),
        };
        using var response = await _http.PostAsJsonAsync("/tx/prepare", request, Json.Options, ct);
        await EnsureAcceptedAsync(response, ct);
    }

    public Task CommitAsync(string txId, CancellationToken ct) => ResolveAsync(txId, "commit", ct);

    public Task RollbackAsync(string txId, CancellationToken ct) => ResolveAsync(txId, "rollback", ct);

    /// <summary>Best effort: if this call is lost, txbroker's check-back asks the transaction log and resolves it the same way.</summary>
    public async Task TryResolveAsync(string txId, bool commit, ILogger log, CancellationToken ct)
    {
        try
        {
            if (commit) await CommitAsync(txId, ct);
            else await RollbackAsync(txId, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TxBrokerRefusedException or TaskCanceledException)
        {
            log.LogWarning("{Resolution} of {TxId} not delivered ({Error}); check-back will resolve it", commit ? "commit" : "rollback", txId, e.Message);
        }
    }

    private async Task ResolveAsync(string txId, string resolution, CancellationToken ct)
    {
        using var response = await _http.PostAsync($"/tx/{Uri.EscapeDataString(txId)}/{resolution}", null, ct);
        await EnsureAcceptedAsync(response, ct);
    }

    private static async Task EnsureAcceptedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
            throw new TxBrokerRefusedException(response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }
}
