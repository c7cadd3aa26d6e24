using System.Runtime.InteropServices;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// The entry point the no-orphans tests run in a separate harness process (`harness infra-up-for-tests WORKDIR MODE`):
/// start embedded PostgreSQL and RabbitMQ, print READY, then end the way MODE says, so that the test can check that
/// no server process is left afterwards.
/// </summary>
public static class InfraUp
{
    /// <param name="workDir">Run folder: servers' files under workDir/work, logs under workDir/logs.</param>
    /// <param name="mode">
    /// "wait": wait for SIGINT or SIGTERM, cancel it and stop the servers gracefully (what the real CLI does);
    /// "sleep": sleep without handling any signal, so a signal's default action ends the process and only the
    /// reaper stands between the servers and orphanhood;
    /// "throw": once a line arrives on stdin (or stdin ends), crash with an unhandled exception; waiting for the
    /// go-ahead lets the test set things up first.
    /// </param>
    /// <returns>0 after a graceful stop; 2 for an unknown mode. The other modes never return.</returns>
    public static async Task<int> InfraUpForTestsAsync(string workDir, string mode)
    {
        if (mode is not ("wait" or "sleep" or "throw"))
        {
            await Console.Error.WriteLineAsync($"unknown mode '{mode}': expected wait, sleep or throw");
            return 2;
        }

        using var stop = new CancellationTokenSource();
        // Registered after the reaper's handlers, so these run first and, by cancelling, keep the signal from
        // ending the process: the graceful path.
        using var onInterrupt = mode == "wait" ? RegisterStop(PosixSignal.SIGINT, stop) : null;
        using var onTerminate = mode == "wait" ? RegisterStop(PosixSignal.SIGTERM, stop) : null;

        var (postgres, rabbitMq) = await StartBothAsync(Path.Combine(workDir, "work"), Path.Combine(workDir, "logs"));
        await using (postgres)
        await using (rabbitMq)
        {
            await Console.Out.WriteLineAsync($"READY {postgres.AdminConnectionString} {rabbitMq.AmqpUri}");
            await Console.Out.FlushAsync();

            if (mode == "throw")
            {
                await Console.In.ReadLineAsync();
                // Thrown on a thread of its own so that it is unhandled whatever the caller does with exceptions
                // (System.CommandLine, for one, catches what a command throws).
                new Thread(() => throw new InvalidOperationException("infra-up-for-tests: deliberate unhandled exception"))
                    .Start();
            }
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            return 0;
        }
    }

    private static PosixSignalRegistration RegisterStop(PosixSignal signal, CancellationTokenSource stop) =>
        PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

    // Started side by side: the broker's ~5 s dominates, PostgreSQL's start hides under it.
    private static async Task<(PostgresServer, RabbitMqServer)> StartBothAsync(string workDir, string logDir)
    {
        var postgres = PostgresServer.StartEmbeddedAsync(workDir, logDir);
        var rabbitMq = RabbitMqServer.StartEmbeddedAsync(workDir, logDir);
        try
        {
            await Task.WhenAll(postgres, rabbitMq);
        }
        catch
        {
            if (postgres.IsCompletedSuccessfully) await postgres.Result.DisposeAsync();
            if (rabbitMq.IsCompletedSuccessfully) await rabbitMq.Result.DisposeAsync();
            throw;
        }
        return (postgres.Result, rabbitMq.Result);
    }
}
