using System.Diagnostics;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Mutants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Dtx.Shared.Hosting;

/// <summary>
/// Runs one service role as its own OS process: Kestrel on 127.0.0.1, the role's endpoints, and the control
/// endpoints every service has — <c>GET /health</c> and <c>/failpoints</c> for the harness to arm steps from outside.
/// </summary>
public static class ServiceHost
{
    public static async Task<int> RunAsync(IServiceRole role, ServiceOptions options, CancellationToken ct)
    {
        options.Validate();
        if (options.Mutant is { } name && MutantCatalog.Find(name)?.Implementation != options.Implementation)
            throw new ServiceOptionException($"--mutant: {options.Implementation} has no mutant '{options.Mutant}'; it has: {string.Join(", ", MutantCatalog.Of(options.Implementation).Select(m => m.Name))}");
        if (options.CountersFile is { } countersPath)
        {
            try
            {
                ServiceCounters.CountInFile(countersPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new ServiceOptionException($"--counters: cannot create '{countersPath}' ({e.Message})");
            }
        }
        // No watch on configuration files: the default watches the working directory and everything under it, where
        // the harness writes the run's logs, and handling those file events cost the initiator 8 % of its CPU at
        // 1,000 orders/s (dotnet-trace). The services take their settings from the command line only.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, options.HttpPort));
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<Failpoints.Failpoints>();
        role.ConfigureServices(builder.Services, options);

        await using var app = builder.Build();
        var failpoints = app.Services.GetRequiredService<Failpoints.Failpoints>();
        failpoints.Declare([.. role.Failpoints]);
        try
        {
            ArmFromOptions(failpoints, options.Failpoints);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or KeyNotFoundException)
        {
            throw new ServiceOptionException($"--failpoints: {e.Message}");
        }
        // Counts the protocol's requests (prepare, commit, check-back, orders), not the harness's control requests.
        app.Use((context, next) =>
        {
            if (!IsControl(context.Request.Path)) ServiceCounters.RequestServed();
            return next(context);
        });
        MapControlEndpoints(app, failpoints);
        role.MapEndpoints(app);

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("service");
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        // Connect first, listen after: while a restarted service is not ready, a client's connection is refused —
        // a definite failure it can count on — instead of accepted and left hanging, which it could only call indeterminate.
        var roleStart = Stopwatch.StartNew();
        await role.StartAsync(app.Services, linked.Token);
        var roleMs = roleStart.ElapsedMilliseconds;
        await app.StartAsync(ct);
        // The harness's evidence that a mutant run really ran the mutant, logged only by the process whose code it
        // changes: a line the mutants command looks for.
        if (options.Mutant is { } mutant && role.Mutants.Contains(mutant))
            log.LogWarning("MUTANT {Mutant}: {Safeguard}", mutant, MutantCatalog.Find(mutant)!.Safeguard);
        // How long a restart keeps the service away (its connections refused): the process's start, then the role's
        // (schema, broker connection, consumers).
        log.LogInformation("{Implementation} {Role} ready on 127.0.0.1:{Port}, {Ms} ms after the process started ({RoleMs} ms connecting)",
            options.Implementation, options.Role, options.HttpPort, (long)(DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds, roleMs);
        try
        {
            await Task.Delay(Timeout.Infinite, linked.Token);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private static void ArmFromOptions(Failpoints.Failpoints failpoints, string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return;
        foreach (var entry in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = entry.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--failpoints takes name=spec;name=spec, not '{entry}'");
            failpoints.Arm(entry[..eq], FailpointSpec.Parse(entry[(eq + 1)..]));
        }
    }

    private static bool IsControl(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/failpoints") || path.StartsWithSegments("/metrics");

    private static void MapControlEndpoints(WebApplication app, Failpoints.Failpoints failpoints)
    {
        app.MapGet("/metrics", () => Results.Json(ServiceCounters.Read()));
        // Kestrel listens only once the role has started, so answering at all means ready.
        app.MapGet("/health", () => Results.Ok("ready"));
        app.MapGet("/failpoints", () => Results.Json(failpoints.Describe()));
        // The body is the spec as text (crash@once, delay(200ms)@every(3) …): the same words a scenario file uses.
        app.MapPut("/failpoints/{name}", async (string name, HttpRequest request) =>
        {
            var text = await new StreamReader(request.Body).ReadToEndAsync();
            try
            {
                var spec = FailpointSpec.Parse(text);
                failpoints.EnsureDeclared(name);
                if (spec.Action != FailpointAction.Crash)
                {
                    // Armed at once: when the caller has the answer it is armed, so a disarming call that follows can
                    // never come first.
                    failpoints.Arm(name, spec);
                    return Results.NoContent();
                }
                // A crash is armed only once the answer is on its way: under load the step fires within microseconds
                // of arming, and a crash armed before the answer was written would kill the process with the caller's
                // answer unsent, so the caller could not tell "armed and fired" from "never armed".
                request.HttpContext.Response.OnCompleted(() =>
                {
                    failpoints.Arm(name, spec);
                    return Task.CompletedTask;
                });
                return Results.NoContent();
            }
            catch (FormatException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
            catch (KeyNotFoundException e)
            {
                return Results.NotFound(new { error = e.Message });
            }
        });
        app.MapDelete("/failpoints/{name}", (string name) => failpoints.Disarm(name) ? Results.NoContent() : Results.NotFound());
        app.MapDelete("/failpoints", () =>
        {
            failpoints.DisarmAll();
            return Results.NoContent();
        });
    }
}
