// One Athena workgroup and one managed policy per analyst team, for serverless.yml:
//   resources:
//     - ${file(infra/analyst_teams.js)}
// Teams come from the stage parameter analystTeams (comma-separated names). Each
// team's workgroup enforces its own results prefix, athena-results/<team>/, and
// its policy reads and writes only there: no team reads or overwrites another's
// results. A policy reads every table a named query reads (the events, the
// compacted days, the spot catalog) and writes none; it lists only the prefixes
// its team may read (never the quarantine's object names), and every workgroup
// holds the saved named queries, each with the registry's description.
const savedQueries = require('./saved_queries.js');

const TEAM = /^[a-z][a-z0-9-]{0,29}$/;

function logicalName(team) {
  return team.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
}

function teamResources(team, { workGroupBase, stage, cutoff }) {
  const id = logicalName(team);
  const workGroup = `AthenaWorkGroupTeam${id}`;
  const prefix = `athena-results/${team}/`;
  const resources = {
    [workGroup]: {
      Type: 'AWS::Athena::WorkGroup',
      Properties: {
        Name: `${workGroupBase}-${team}`,
        Description: `parking-cli --engine athena for the ${team} team; results under ${prefix}, encrypted`,
        State: 'ENABLED',
        RecursiveDeleteOption: true,
        WorkGroupConfiguration: {
          EnforceWorkGroupConfiguration: true,
          PublishCloudWatchMetricsEnabled: true,
          BytesScannedCutoffPerQuery: cutoff,
          EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
          ResultConfiguration: {
            OutputLocation: { 'Fn::Sub': `s3://\${DataBucket}/${prefix}` },
            EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: { 'Fn::GetAtt': ['DataKey', 'Arn'] } },
          },
        },
      },
    },
    [`AthenaAnalystPolicyTeam${id}`]: {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        ManagedPolicyName: `parking-athena-analyst-${team}-${stage}`,
        Description: `Run parking-cli --engine athena in the ${team} workgroup - our table and data, the team's results`,
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'QueryInTheTeamWorkgroup',
              Effect: 'Allow',
              Action: [
                'athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults',
                'athena:StopQueryExecution', 'athena:GetWorkGroup', 'athena:GetNamedQuery',
                'athena:ListNamedQueries', 'athena:BatchGetNamedQuery',
              ],
              Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:athena:\${AWS::Region}:\${AWS::AccountId}:workgroup/\${${workGroup}}` },
            },
            {
              Sid: 'ReadOurTable',
              Effect: 'Allow',
              Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
              Resource: [
                { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog' },
                { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${GlueDatabase}' },
                { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabase}/${ParkingEventsTable}' },
                { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabase}/${ParkingEventsCompactedTable}' },
                // Every query but status and health joins the spot catalog (METRICS.md section 7).
                { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabase}/${SpotCatalogTable}' },
              ],
            },
            {
              Sid: 'ReadOurData',
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: [
                { 'Fn::Sub': '${DataBucket.Arn}/parking-data/*' },
                { 'Fn::Sub': '${DataBucket.Arn}/parking-compacted/*' },
                { 'Fn::Sub': '${DataBucket.Arn}/parking-catalog/*' },
              ],
            },
            {
              Sid: 'ListOnlyWhatTheTeamMayRead',
              Effect: 'Allow',
              Action: 's3:ListBucket',
              Resource: { 'Fn::GetAtt': ['DataBucket', 'Arn'] },
              Condition: { StringLike: { 's3:prefix': ['parking-data/*', 'parking-compacted/*', 'parking-catalog/*', `${prefix}*`] } },
            },
            {
              Sid: 'FindTheBucketsRegion',
              Effect: 'Allow',
              Action: 's3:GetBucketLocation',
              Resource: { 'Fn::GetAtt': ['DataBucket', 'Arn'] },
            },
            {
              Sid: 'ReadAndWriteTheTeamsResults',
              Effect: 'Allow',
              Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
              Resource: { 'Fn::Sub': `\${DataBucket.Arn}/${prefix}*` },
            },
            {
              Sid: 'UseTheDataKey',
              Effect: 'Allow',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
            },
          ],
        },
      },
    },
  };
  const descriptions = savedQueries.descriptions(); // the registry's (parking/analytics/registry.py)
  for (const [name, text] of Object.entries(savedQueries())) {
    resources[`NamedQuery${logicalName(name)}Team${id}`] = {
      Type: 'AWS::Athena::NamedQuery',
      Properties: {
        Name: `parking-${name}`,
        Description: descriptions[name],
        Database: { Ref: 'GlueDatabase' },
        WorkGroup: { Ref: workGroup },
        QueryString: text,
      },
    };
  }
  return resources;
}

module.exports = async ({ resolveVariable }) => {
  const listed = String(await resolveVariable('param:analystTeams'));
  const teams = listed.split(',').map((team) => team.trim()).filter(Boolean);
  const bad = teams.filter((team) => !TEAM.test(team));
  if (teams.length === 0 || bad.length > 0) {
    throw new Error(`analystTeams must list team names of lower-case letters, digits and dashes, got ${JSON.stringify(listed)}`);
  }
  const settings = {
    workGroupBase: await resolveVariable('param:athenaWorkGroup'),
    stage: await resolveVariable('sls:stage'),
    cutoff: Number(await resolveVariable('param:bytesScannedCutoffPerQuery')),
  };
  const Resources = {};
  const Outputs = {};
  for (const team of new Set(teams)) {
    Object.assign(Resources, teamResources(team, settings));
    Outputs[`AthenaAnalystPolicyArnTeam${logicalName(team)}`] = {
      Description: `Attach to the ${team} team's people or roles; they set PARKING_WORKGROUP=${settings.workGroupBase}-${team}`,
      Value: { Ref: `AthenaAnalystPolicyTeam${logicalName(team)}` },
    };
  }
  return { Resources, Outputs };
};
