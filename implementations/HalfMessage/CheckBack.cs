using Dtx.Shared.Failpoints;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
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

    public static void Map(WebApplication app) => app.MapPost("/checkback/{txId}",
        async (string txId, NpgsqlDataSource db, Failpoints failpoints, CancellationToken ct) =>
        {
            var answer = await TransactionLog.AnswerCheckAsync(db, txId, ct);
            await failpoints.HitAsync(BeforeAnswer, ct);
            return Results.Ok(new { state = answer == TransactionLog.Answer.Commit ? "commit" : "rollback" });
        });
}
