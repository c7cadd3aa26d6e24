namespace Dtx.Harness.Infrastructure;

/// <summary>Waits for a freshly started server to answer a real client request.</summary>
internal static class Readiness
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs <paramref name="probe"/> until it succeeds. Fails as soon as <paramref name="server"/> exits (waiting
    /// out the timeout for a dead server would only hide its log), and after <paramref name="timeout"/>.
    /// </summary>
    public static async Task WaitAsync(string what, ChildProcess server, Func<CancellationToken, Task> probe,
        TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        Exception? lastFailure = null;
        while (true)
        {
            if (server.HasExited) throw ExitedEarly(what, server);
            try
            {
                await probe(deadline.Token);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                lastFailure = e;
            }
            try
            {
                await Task.WhenAny(Task.Delay(PollInterval, deadline.Token), server.Exited);
                deadline.Token.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new InfrastructureUnavailableException(
                    $"{what} did not answer within {timeout.TotalSeconds:0} s ({lastFailure?.Message}); " +
                    $"last lines of {server.LogPath}:\n{server.LogTail()}", lastFailure);
            }
        }
    }

    public static InfrastructureUnavailableException ExitedEarly(string what, ChildProcess server) =>
        new($"{what} exited with code {server.Exited.Result} before it was ready; " +
            $"last lines of {server.LogPath}:\n{server.LogTail()}");
}
