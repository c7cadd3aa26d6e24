using System.Diagnostics;

namespace Dtx.Tests.Support;

/// <summary>Runs the harness binary as a user would, and returns its exit code and output.</summary>
public static class HarnessCli
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr);

    public static string HarnessDll => Path.Combine(AppContext.BaseDirectory, "harness.dll");

    public static async Task<Outcome> RunAsync(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(HarnessDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"harness {string.Join(' ', args)} ran longer than {timeout.TotalSeconds:0}s");
        }
        return new Outcome(process.ExitCode, await stdout, await stderr);
    }
}
