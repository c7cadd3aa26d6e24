using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Mutants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Dtx.HalfMessage;

/// <summary>
/// The producer's side of check-back: <c>POST /checkback/{txId}</c>, called by txbroker when a half message has
/// waited longer than its timeout without a commit or rollback (the producer crashed after its local commit, or
/// the commit call was lost). The answer comes from <see cref="TransactionLog"/>, never "unknown" while the
/// database answers: the fence makes a definite answer always safe.
/// </summary>
public static class CheckBack
{
    public const string BeforeAnswer = StepRoles.CheckBackBeforeAnswer;

    public static void Map(WebApplication app)
    {
        var options = app.Services.GetRequiredService<ServiceOptions>();
        // Safeguards a mutant run switches off (MutantCatalog.cs); false in every real run.
        bool blindCommit = options.IsMutant(MutantCatalog.CheckBackBlindCommit), fence = !options.IsMutant(MutantCatalog.CheckBackUnfencedRollback);
        app.MapPost("/checkback/{txId}", async (string txId, NpgsqlDataSource db, Failpoints failpoints, CancellationToken ct) =>
        {
            var answer = blindCommit ? TransactionLog.Answer.Commit : await TransactionLog.AnswerCheckAsync(db, txId, ct, fence);
            await failpoints.HitAsync(BeforeAnswer, ct);
            return Results.Ok(new { state = answer == TransactionLog.Answer.Commit ? "commit" : "rollback" });
        });
    }
}
