#include "aws/awsxml.h"

#include <expat.h>

const char *
awsxml_library_version(void)
{
    return XML_ExpatVersion();
}
