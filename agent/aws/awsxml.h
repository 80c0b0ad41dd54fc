/*
 * awsxml: XML replies of the AWS Query protocol, parsed with expat into
 * typed structs (the tree never leaves the parser).  The parsers arrive with
 * the signed-calls issue; this build exposes the library version only.
 */
#ifndef AGENT_AWS_AWSXML_H
#define AGENT_AWS_AWSXML_H

/* expat's version string ("expat_2.5.0"), for `version`. */
const char *awsxml_library_version(void);

#endif
