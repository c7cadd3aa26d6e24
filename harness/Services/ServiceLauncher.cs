using Dtx.Harness.Infrastructure;
using Dtx.Shared.Hosting;

namespace Dtx.Harness.Services;

/// <summary>
/// Starts a service as its own OS process — this same harness binary with the hidden <c>service</c> command — so
/// that a crash is a real SIGKILL of that process and nothing it held in memory survives.
/// </summary>
public static class ServiceLauncher
{
    public static ChildProcess Start(string implementation, string role, IReadOnlyDictionary<string, string> options, string logPath)
    {
        var harnessDll = typeof(ServiceLauncher).Assembly.Location;
        IEnumerable<string> args = ["exec", harnessDll, "service", implementation, role, .. ServiceOptions.ToArgs(options)];
        return ChildProcess.Start(DotnetHost(), args, logPath);
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host) return host;
        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }
}
